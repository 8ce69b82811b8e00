import { z } from 'zod';
import { durationField } from '../units/units.ts';
import { httpUrl, isSecureTransport } from './schema-fields.ts';

/** controlPlane.jwksStaleIfError: 0 to 24 h. */
const JWKS_STALE_BOUNDS = Object.freeze({ min: 0, max: 24 * 3600 });

/**
 * controlPlane.clockTolerance: 0 to 5 min. It widens `exp`, `nbf`, the maximum age and, at
 * re-verification, every trusted key's period, on both sides: a large value switches token expiry
 * and key retirement off (red team 17, finding 4: at 596523h a token expired a year ago verified).
 * Clocks kept by NTP differ by far less; a skew of minutes is a clock to fix, not to tolerate.
 */
export const CLOCK_TOLERANCE_BOUNDS = Object.freeze({ min: 0, max: 300 });

/**
 * controlPlane.maxTokenAge and controlPlane.jwksRefresh: 1 s to 24 h. The first is the runner's
 * own ceiling on a token's life at admission, whatever `exp` the signer chose (assignments arrive
 * within seconds; a run that waits is re-verified at its creation, not now). The second is how long
 * a key removed from the JWKS keeps verifying while the URL answers (a known `kid` triggers no
 * refetch): capped as jwksStaleIfError is, for the same reason.
 */
export const VERIFY_WINDOW_BOUNDS = Object.freeze({ min: 1, max: 24 * 3600 });

/**
 * The `controlPlane` section: where the control plane and its trusted keys (JWKS) are, and how
 * assignment tokens are verified. Durations are in seconds. Refused: neither jwksFile nor jwksUrl,
 * and plain http to a host that is not loopback for url or jwksUrl unless insecureHttp is set.
 */
export const controlPlaneSection = z
  .strictObject({
    /** The control plane's base URL: https, or http to a loopback host (or with insecureHttp). */
    url: httpUrl().optional(),
    issuer: z.string().min(1),
    jwksFile: z.string().min(1).optional(),
    /** Where the trusted keys are fetched: https, or http to a loopback host (or with insecureHttp). */
    jwksUrl: httpUrl().optional(),
    /**
     * Allows plain http to a host that is not loopback for url and jwksUrl. Off by default: over
     * http anyone on the path can swap the JWKS (and so sign assignments) or read the runner
     * token. For test rigs whose control plane has no TLS (docs/real-node.md).
     */
    insecureHttp: z.boolean().default(false),
    /** How often the JWKS URL is refetched, at most every 24 h; a token with an unknown kid refetches sooner (rotation). */
    jwksRefresh: durationField(VERIFY_WINDOW_BOUNDS).default(300),
    /**
     * How long the last good JWKS stays in use while the URL fails; then no token verifies. At most
     * 24 h: a key the control plane has revoked stays trusted this long while the URL is down.
     */
    jwksStaleIfError: durationField(JWKS_STALE_BOUNDS).default(3600),
    algorithms: z
      .array(z.enum(['EdDSA', 'ES256', 'ES384', 'PS256', 'RS256']))
      .min(1)
      .default(['EdDSA', 'ES256']),
    /** Refuse tokens whose `iat` is older; at most 24 h (VERIFY_WINDOW_BOUNDS). */
    maxTokenAge: durationField(VERIFY_WINDOW_BOUNDS).default(600),
    /** Allowed clock skew; at most 5 min (CLOCK_TOLERANCE_BOUNDS). */
    clockTolerance: durationField(CLOCK_TOLERANCE_BOUNDS).default(30),
    maxTokenBytes: z
      .int()
      .min(1024)
      .max(1024 * 1024)
      .default(64 * 1024),
  })
  .refine((c) => c.jwksFile !== undefined || c.jwksUrl !== undefined, {
    message: 'one of jwksFile or jwksUrl is required',
    path: ['jwksFile'],
  })
  .superRefine((c, ctx) => {
    for (const key of ['url', 'jwksUrl'] as const) {
      const url = c[key];
      if (url !== undefined && !c.insecureHttp && !isSecureTransport(url))
        ctx.addIssue({
          code: 'custom',
          path: [key],
          message: `must be https (plain http only to a loopback host, or with controlPlane.insecureHttp: true): over http anyone on the path can ${key === 'jwksUrl' ? 'swap the trusted keys' : 'read the runner token'}`,
        });
    }
  });
