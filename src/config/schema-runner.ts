import { z } from 'zod';
import { DEFAULT_RESOURCES } from '../pod/resources.ts';
import { durationField, POSITIVE_DURATION, STEP_TIMEOUT_BOUNDS } from '../units/units.ts';
import { defaultList, dnsLabel, headerToken, resourceList, sizeLimit } from './schema-fields.ts';

/** runner.security.podSecurityCheck.interval: 5 s to 1 h (a label removed is noticed within it). */
export const POD_SECURITY_CHECK_BOUNDS = Object.freeze({ min: 5, max: 3600 });

/**
 * The `runner` section: its identity and token, and how its step pods are made — `workflow`
 * (namespace, timeouts, concurrency, retention, default resources), `security`, `network` and
 * `storage`. Keyed exactly as the seed's values.yaml (the Helm chart passes the section through).
 * Durations are in seconds.
 */
export const runnerSection = z.strictObject({
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
      runAsNonRoot: z.literal(true, { error: 'pods always run as non-root; runAsNonRoot must be true' }).default(true),
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
});
