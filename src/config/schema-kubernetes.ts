import { z } from 'zod';
import { durationField, POSITIVE_DURATION } from '../units/units.ts';
import { dnsLabel } from './schema-fields.ts';

/**
 * The `kubernetes` section: how the runner reaches the API server (kubeconfig or in-cluster), its
 * own namespace and Lease, and the bounds on API requests and watches (`api`). Durations are in
 * seconds; refused: a watchIdle not longer than watchTimeout.
 */
export const kubernetesSection = z
  .strictObject({
    /** Path of a kubeconfig; in-cluster service account when omitted. */
    kubeconfig: z.string().min(1).optional(),
    /** The runner's own namespace (its Lease lives there). */
    namespace: dnsLabel.default('kubiya'),
    leaseName: dnsLabel.optional(),
    leaseDuration: durationField(POSITIVE_DURATION).default(15),
    /** How API connections are bounded and watches kept honest (docs/operations.md, "Stall detection"). */
    api: z
      .strictObject({
        /** Bound on the wait for each response's headers, and on each silence within its body. */
        requestTimeout: durationField(POSITIVE_DURATION)
          .default(15)
          .refine((s) => s >= 1, 'must be at least 1s'),
        /** The server ends each watch after this long (with a bookmark just before); it is then resumed. */
        watchTimeout: durationField(POSITIVE_DURATION)
          .default(30)
          .refine((s) => s >= 1, 'must be at least 1s'),
        /** A watch that delivers nothing (no event, no bookmark) this long is stalled: restarted on a new connection. */
        watchIdle: durationField(POSITIVE_DURATION).default(45),
        /** Every informer lists again (a full relist) at least this often. */
        relist: durationField(POSITIVE_DURATION)
          .default(300)
          .refine((s) => s >= 1, 'must be at least 1s'),
      })
      .refine((a) => a.watchIdle > a.watchTimeout, {
        message: 'must be longer than watchTimeout (a healthy quiet watch is silent until the server ends it)',
        path: ['watchIdle'],
      })
      .prefault({}),
  })
  .prefault({});
