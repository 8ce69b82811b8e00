import { z } from 'zod';
import { durationField, POSITIVE_DURATION } from '../units/units.ts';
import { httpUrl } from './schema-fields.ts';

/**
 * The `audit` section: the log's directory and segment size (bytes), signed checkpoints, the
 * budget of refusals recorded before a token is verified (`refusals`), and optional shipping
 * (`ship`). Durations are in seconds.
 */
export const auditSection = z.strictObject({
  dir: z.string().min(1),
  /** Start a new segment file past this many bytes. */
  segmentBytes: z
    .int()
    .min(64 * 1024)
    .default(64 * 1024 * 1024),
  checkpoint: z
    .strictObject({
      /** PEM (PKCS#8) Ed25519 private key, mounted from a Secret. No key: no checkpoints (logged). */
      signingKeyFile: z.string().min(1).optional(),
      every: z.int().min(1).max(1_000_000).default(1000),
      interval: durationField(POSITIVE_DURATION).default(10),
    })
    .prefault({}),
  /**
   * The audit budget of refusals before a token is verified at HTTP intake (docs/adr/0008): the
   * first `perCode` of each code per `window` are recorded one by one, the rest counted in one
   * summary record per stage and window. Bounded both ways: at least one record of each code per
   * window (an auditor sees an example), at most 100 per 10 s (an unauthenticated flood cannot
   * write at disk speed).
   */
  refusals: z
    .strictObject({
      perCode: z.int().min(1).max(100).default(10),
      window: durationField(POSITIVE_DURATION)
        .default(60)
        .refine((s) => s >= 10 && s <= 3600, 'must be between 10 and 3600 seconds'),
    })
    .prefault({}),
  /** Optional shipping to a decision-log sink (OPA's upload format); off without a url. */
  ship: z
    .strictObject({
      url: httpUrl().optional(),
      batch: z.int().min(1).max(10_000).default(500),
      interval: durationField(POSITIVE_DURATION).default(5),
    })
    .prefault({}),
});
