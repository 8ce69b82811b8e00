import { z } from 'zod';
import { DEFAULT_RESOURCES } from '../pod/resources.ts';
import { durationField, POSITIVE_DURATION, STEP_TIMEOUT_BOUNDS } from '../units/units.ts';
import {
  defaultList,
  dnsLabel,
  headerToken,
  httpUrl,
  isSecureTransport,
  resourceList,
  sizeLimit,
} from './schema-fields.ts';

/** runner.security.podSecurityCheck.interval: 5 s to 1 h (a label removed is noticed within it). */
export const POD_SECURITY_CHECK_BOUNDS = Object.freeze({ min: 5, max: 3600 });

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
 * The runner's configuration. `runner.*` is keyed exactly as the seed's values.yaml (the Helm
 * chart passes that section through); the other sections are ours. Strict: unknown keys fail.
 */
export const configSchema = z.strictObject({
  runner: z.strictObject({
    name: dnsLabel,
    /** The runner token for the control plane; prefer tokenFile (a mounted Secret). */
    token: headerToken.optional(),
    tokenFile: z.string().min(1).optional(),
    /** The runner pod's own resources: used by the Helm chart, accepted here so one file serves both. */
    resources: z.strictObject({ requests: resourceList.optional(), limits: resourceList.optional() }).optional(),
    workflow: z
      .strictObject({
        namespace: dnsLabel.default('kubiya-workflows'),
        serviceAccount: dnsLabel.default('kubiya-workflow'),
        defaultTimeout: durationField(STEP_TIMEOUT_BOUNDS).default(1800),
        maxConcurrent: z.int().min(1).max(10_000).default(10),
        /** How long ImagePullBackOff, ErrImagePull, CreateContainerConfigError... are tolerated before the step fails. */
        failFastGrace: durationField().default(60),
        /** Finished runs keep their pods (for kubectl logs), NetworkPolicies and PVCs this long. */
        ttlAfterFinished: durationField().default(3600),
        /**
         * A finished run's WorkflowRun is deleted this long after it finished, and never before its
         * token can no longer verify (src/reconcile/expire.ts); at least ttlAfterFinished, never zero.
         */
        retainFinished: durationField(POSITIVE_DURATION).default(168 * 3600),
        /**
         * Requests and limits given to every container of a step (main, init, sidecar) for each
         * resource its spec leaves out or sets to zero. `{}` gives none: policy then decides.
         */
        defaultResources: z
          .strictObject({ requests: defaultList.optional(), limits: defaultList.optional() })
          .default({ requests: { ...DEFAULT_RESOURCES.requests }, limits: { ...DEFAULT_RESOURCES.limits } }),
      })
      .refine((w) => w.retainFinished >= w.ttlAfterFinished, {
        message:
          'must be at least runner.workflow.ttlAfterFinished (a run is deleted only after its pods, NetworkPolicies and PVCs)',
        path: ['retainFinished'],
      })
      .prefault({}),
    security: z
      .strictObject({
        podSecurityStandard: z
          .literal('restricted', { error: 'only "restricted" is supported: this runner hardens every pod to it' })
          .default('restricted'),
        allowPrivileged: z
          .literal(false, { error: 'privileged pods are never created; allowPrivileged must be false' })
          .default(false),
        runAsNonRoot: z
          .literal(true, { error: 'pods always run as non-root; runAsNonRoot must be true' })
          .default(true),
        runAsUser: z
          .int()
          .min(1)
          .max(2 ** 31 - 1)
          .default(65532),
        readOnlyRootFilesystem: z.boolean().default(false),
        allowNetBindService: z.boolean().default(false),
        /**
         * The runner's run-time check that the API server enforces PodSecurity `restricted` on the
         * workflows namespace (src/adapters/kube-pod-security.ts): a dry-run create of a pod
         * `restricted` forbids, at start and every `interval`. While it is not enforced (or cannot be
         * told) /ready fails and no step pod is created. `enabled: false` only for clusters that
         * enforce restricted by other means (docs/configuration.md, with its risk).
         */
        podSecurityCheck: z
          .strictObject({
            enabled: z.boolean().default(true),
            interval: durationField(POD_SECURITY_CHECK_BOUNDS).default(60),
          })
          .prefault({}),
      })
      .prefault({}),
    network: z
      .strictObject({
        /**
         * Written into every step pod (src/mutate/restricted.ts). Only ClusterFirst: `Default` sends
         * DNS to the node's resolver, which the DNS-only egress policy does not allow; `None` needs
         * a dnsConfig the runner never writes; ClusterFirstWithHostNet is for hostNetwork pods,
         * which steps never are (red team 17: the key was accepted and nothing read it).
         */
        dnsPolicy: z
          .literal('ClusterFirst', {
            error:
              'only "ClusterFirst" is supported: step pods resolve through the cluster DNS, the only resolver their egress policy allows',
          })
          .default('ClusterFirst'),
        enableServiceLinks: z
          .literal(false, { error: 'service links are always disabled; enableServiceLinks must be false' })
          .default(false),
      })
      .prefault({}),
    storage: z
      .strictObject({
        workspaceSize: sizeLimit.default('10Gi'),
        /**
         * The `sizeLimit` of each step's writable /tmp emptyDir under readOnlyRootFilesystem (and of
         * any other emptyDir of a step pod without one): never zero (red team 18, finding 7).
         */
        tmpSize: sizeLimit.default('1Gi'),
        storageClass: z.string().min(1).max(253).optional(),
      })
      .prefault({}),
  }),
  controlPlane: z
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
    }),
  policy: z
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
    }),
  egress: z
    .strictObject({
      /** networkpolicy: ipBlock rules; cilium: CiliumNetworkPolicy toFQDNs for hostnames (issue #5). */
      mode: z.enum(['networkpolicy', 'cilium']).default('networkpolicy'),
      /** The namespace of the cluster DNS pods (k8s-app=kube-dns): the only DNS peer a step's policy allows. */
      dnsNamespace: dnsLabel.default('kube-system'),
    })
    .prefault({}),
  audit: z.strictObject({
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
  }),
  server: z
    .strictObject({
      host: z.string().min(1).default('0.0.0.0'),
      port: z.int().min(0).max(65535).default(8080),
      requestTimeout: durationField(POSITIVE_DURATION).default(10),
      /**
       * Connections open at once on the port (intake, probes and /metrics together; keep-alive ones
       * count until closed). One more is closed as soon as it is accepted, before any byte of it is
       * read, and counted (kubiya_http_connections_refused_total). Bounds the file descriptors and
       * memory a flood of connections can hold; the timeouts bound each one's life. At least 8: fewer
       * and the probes, a scrape and the control plane's pushes would crowd each other out.
       */
      maxConnections: z.int().min(8).max(65_536).default(256),
      shutdownGrace: durationField().default(25),
    })
    .prefault({}),
  kubernetes: z
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
    .prefault({}),
  log: z
    .strictObject({
      level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).default('info'),
    })
    .prefault({}),
});

export type Config = z.output<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
