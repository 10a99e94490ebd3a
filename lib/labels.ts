// Label matching, as a label selector's matchLabels does it.

/** Whether `labels` hold every label of `wanted` with its value. */
export function hasLabels(labels: Readonly<Record<string, string>> | undefined, wanted: Readonly<Record<string, string>>): boolean {
  return Object.entries(wanted).every(([k, v]) => labels?.[k] === v);
}
