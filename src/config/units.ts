import { z } from 'zod';
import { durationSeconds } from '../pod/duration.ts';

const QUANTITY = /^([0-9]+(?:\.[0-9]+)?)(m|k|Ki|Mi|Gi|Ti|Pi|Ei|M|G|T|P|E)?$/;
const FACTORS: Record<string, number> = {
  '': 1, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
  Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4, Pi: 1024 ** 5, Ei: 1024 ** 6,
};

/** A Kubernetes quantity ("10Gi", "500m", "1") as a number of base units. */
export function quantityValue(q: string): number {
  const m = QUANTITY.exec(q);
  if (m === null) throw new RangeError(`not a quantity: ${JSON.stringify(q)}`);
  return Number(m[1]) * (FACTORS[m[2] ?? ''] ?? 1);
}

/** "30m", "1h30m", "45s" or a number of seconds → seconds. */
export const durationField = z.union([
  z.int().min(0),
  z.string().regex(/^(?:[0-9]+h)?(?:[0-9]+m)?(?:[0-9]+s)?$/, 'must be a duration such as 30s, 5m or 1h30m').refine((s) => s.length > 0, 'must not be empty'),
]).transform((v) => durationSeconds(v));

/** A quantity kept as written (the chart and the API server take it as a string). */
export const quantityField = z.string().regex(QUANTITY, 'must be a Kubernetes quantity such as 10Gi, 500m or 1');
