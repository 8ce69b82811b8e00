/** Parses a Kubernetes-style duration ("30m", "1h30m", "45s") or a number of seconds into seconds. */
export function durationSeconds(value: string | number): number {
  if (typeof value === 'number') return value;
  const match = /^(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?$/.exec(value);
  if (match === null || value.length === 0) throw new RangeError(`not a duration: ${JSON.stringify(value)}`);
  const [, h = '0', m = '0', s = '0'] = match;
  return Number(h) * 3600 + Number(m) * 60 + Number(s);
}
