// Timestamps as Kubernetes writes them.

/** RFC 3339 to the second (metav1.Time): `2026-12-05T01:47:30Z`. */
export function rfc3339(date = new Date()): string {
  return date.toISOString().replace(/\.\d+Z$/, 'Z');
}

/** metav1.MicroTime: kube-apiserver parses exactly six fractional digits. */
export function microTime(date = new Date()): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}
