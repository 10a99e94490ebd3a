// Lookups that add what is missing.

/** The value under `key`, made by `make` and kept there when there is none yet (a Map or a WeakMap). */
export function getOrAdd<K, V>(map: { get(key: K): V | undefined; set(key: K, value: V): unknown }, key: K, make: () => V): V {
  let value = map.get(key);
  if (value === undefined) map.set(key, (value = make()));
  return value;
}
