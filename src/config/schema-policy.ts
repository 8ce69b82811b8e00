import { z } from 'zod';
import { durationField, POSITIVE_DURATION } from '../units/units.ts';
import { httpUrl, isSecureTransport } from './schema-fields.ts';

/**
 * The `policy` section: the bundle file, an optional settings overlay, the keys bundles must be
 * signed with, and an optional bundle service to poll (durations in seconds). Refused: a service
 * without verificationKeys, and a service bearer token over plain http to a host that is not loopback.
 */
export const policySection = z
  .strictObject({
    bundle: z.string().min(1),
    /** A data.json whose kubiya.settings are laid over the bundle's (the Helm chart renders it from values). */
    data: z.string().min(1).optional(),
    /**
     * PEM public keys (files) that bundles must be signed with (OPA's .signatures.json). Set: an
     * unsigned or wrongly signed bundle is refused at start and on reload (docs/policies.md).
     */
    verificationKeys: z.array(z.string().min(1)).min(1).max(16).optional(),
    /**
     * An HTTP bundle service to poll (OPA's bundle plugin protocol: ETag / If-None-Match); each
     * download is written to `bundle` (which must then be writable) and checked like any reload.
     */
    service: z
      .strictObject({
        url: httpUrl(),
        pollInterval: durationField(POSITIVE_DURATION).default(30),
        maxBackoff: durationField(POSITIVE_DURATION).default(300),
        /** A file holding a bearer token, read before each poll and sent as `Authorization: Bearer` (never logged). */
        bearerTokenFile: z.string().min(1).optional(),
      })
      .optional(),
  })
  // A bundle fetched over the network decides every step: it must be signed (verified against
  // verificationKeys), or whoever controls the server or the path controls the policy.
  .refine((p) => p.service === undefined || p.verificationKeys !== undefined, {
    message: 'policy.service needs policy.verificationKeys: a bundle fetched from a server must be signed',
    path: ['service'],
  })
  // The bundle service's bearer token over plain http to another host is readable on the path
  // (red-team round 3, finding 3): https or loopback whenever a token is sent; no opt-out.
  .refine((p) => p.service?.bearerTokenFile === undefined || isSecureTransport(p.service.url), {
    message:
      'must be https (plain http only to a loopback host) when policy.service.bearerTokenFile is set: over http anyone on the path can read the token',
    path: ['service', 'url'],
  });
