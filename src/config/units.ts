import { z } from 'zod';
import { durationSeconds } from '../pod/duration.ts';

const QUANTITY = /^[0-9]+(?:\.[0-9]+)?(?:m|k|Ki|Mi|Gi|Ti|Pi|Ei|M|G|T|P|E)?$/;

/** "30m", "1h30m", "45s" or a number of seconds → seconds. */
export const durationField = z.union([
  z.int().min(0),
  z.string().regex(/^(?:[0-9]+h)?(?:[0-9]+m)?(?:[0-9]+s)?$/, 'must be a duration such as 30s, 5m or 1h30m').refine((s) => s.length > 0, 'must not be empty'),
]).transform((v) => durationSeconds(v));

/** A quantity kept as written (the chart and the API server take it as a string). */
export const quantityField = z.string().regex(QUANTITY, 'must be a Kubernetes quantity such as 10Gi, 500m or 1');
