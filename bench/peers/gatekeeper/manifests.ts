import type { V1MutatingWebhookConfiguration, V1ValidatingWebhookConfiguration } from '@kubernetes/client-node';
import { ALLOWED_REGISTRIES_REGO, PINNED_TAGS_REGO, REQUIRED_RESOURCES_REGO } from './rego.ts';

/**
 * What the Gatekeeper row installs, as plain objects (pure: no I/O), so a unit test can check the
 * shapes: three ConstraintTemplates + their Constraints (the runner's image and resource rules),
 * the Assign mutators of the restricted Pod Security Standard, and the two webhook configurations
 * that send the row's namespace's pod creations to the out-of-cluster Gatekeeper on loopback.
 */
export interface GatekeeperPolicyInput {
  /** The row's namespace: the only one the webhooks, Constraints and mutators apply to. */
  readonly namespace: string;
  /** Registry host names images may come from (policies/data.json images.allowedRegistries). */
  readonly registries: readonly string[];
  /** Resource names every container must request / limit (policies/data.json resources). */
  readonly requests: readonly string[];
  readonly limits: readonly string[];
}

/** A Kubernetes object of a custom kind (apiVersion + kind + metadata + anything). */
export interface KubeObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly labels?: Record<string, string> };
  readonly [field: string]: unknown;
}

/** Label on every object the row creates, so stop() can find what a crashed run left. */
export const ROW_LABEL = 'bench.kubiya.ai/peer';
const LABELS = { [ROW_LABEL]: 'gatekeeper' };

interface TemplateSpec {
  readonly kind: string;
  readonly rego: string;
  readonly properties: Record<string, unknown>;
}

const STRINGS = { type: 'array', items: { type: 'string' } };
const TEMPLATES: readonly TemplateSpec[] = [
  { kind: 'K8sBenchAllowedRegistries', rego: ALLOWED_REGISTRIES_REGO, properties: { registries: STRINGS } },
  { kind: 'K8sBenchPinnedTags', rego: PINNED_TAGS_REGO, properties: {} },
  {
    kind: 'K8sBenchRequiredResources',
    rego: REQUIRED_RESOURCES_REGO,
    properties: { requests: STRINGS, limits: STRINGS },
  },
];

/** The ConstraintTemplates (templates.gatekeeper.sh/v1, Rego v1 source). Names are the lower-case kinds. */
export function constraintTemplates(): KubeObject[] {
  return TEMPLATES.map((t) => ({
    apiVersion: 'templates.gatekeeper.sh/v1',
    kind: 'ConstraintTemplate',
    metadata: { name: t.kind.toLowerCase(), labels: LABELS },
    spec: {
      crd: {
        spec: {
          names: { kind: t.kind },
          validation: { openAPIV3Schema: { type: 'object', properties: t.properties } },
        },
      },
      targets: [
        {
          target: 'admission.k8s.gatekeeper.sh',
          code: [{ engine: 'Rego', source: { version: 'v1', rego: t.rego } }],
        },
      ],
    },
  }));
}

const POD_MATCH = (namespace: string) => ({
  scope: 'Namespaced',
  kinds: [{ apiGroups: [''], kinds: ['Pod'] }],
  namespaces: [namespace],
});

/** One Constraint per template (constraints.gatekeeper.sh/v1beta1), enforcementAction deny, pods of the namespace. */
export function constraints(p: GatekeeperPolicyInput): KubeObject[] {
  const parameters: Record<string, Record<string, unknown>> = {
    K8sBenchAllowedRegistries: { registries: [...p.registries] },
    K8sBenchPinnedTags: {},
    K8sBenchRequiredResources: { requests: [...p.requests], limits: [...p.limits] },
  };
  return TEMPLATES.map((t) => ({
    apiVersion: 'constraints.gatekeeper.sh/v1beta1',
    kind: t.kind,
    metadata: { name: `bench-${t.kind.toLowerCase()}`, labels: LABELS },
    spec: { enforcementAction: 'deny', match: POD_MATCH(p.namespace), parameters: parameters[t.kind] },
  }));
}

/**
 * The restricted mutation as Assign mutators (mutations.gatekeeper.sh/v1): pod-level runAsNonRoot
 * and seccompProfile RuntimeDefault; per container and init container allowPrivilegeEscalation
 * false and capabilities.drop [ALL]. Values are forced (no pathTests), as the runner's mutation
 * forces them (src/mutate/restricted.ts).
 */
export function assigns(namespace: string): KubeObject[] {
  const fields: [string, string, unknown][] = [
    ['run-as-non-root', 'spec.securityContext.runAsNonRoot', true],
    ['seccomp', 'spec.securityContext.seccompProfile.type', 'RuntimeDefault'],
  ];
  for (const list of ['containers', 'initContainers']) {
    const short = list === 'containers' ? 'c' : 'init';
    fields.push([`${short}-no-escalation`, `spec.${list}[name:*].securityContext.allowPrivilegeEscalation`, false]);
    fields.push([`${short}-drop-all`, `spec.${list}[name:*].securityContext.capabilities.drop`, ['ALL']]);
  }
  return fields.map(([name, location, value]) => assign(namespace, name, location, value, false));
}

function assign(namespace: string, name: string, location: string, value: unknown, onlyIfAbsent: boolean): KubeObject {
  return {
    apiVersion: 'mutations.gatekeeper.sh/v1',
    kind: 'Assign',
    metadata: { name: `bench-${name}`, labels: LABELS },
    spec: {
      applyTo: [{ groups: [''], kinds: ['Pod'], versions: ['v1'], operations: ['CREATE'] }],
      match: POD_MATCH(namespace),
      location,
      parameters: {
        assign: { value },
        ...(onlyIfAbsent ? { pathTests: [{ subPath: location, condition: 'MustNotExist' }] } : {}),
      },
    },
  };
}

/** Requests / limits by resource name, as the runner's runner.workflow.defaultResources. */
export interface ResourceDefaults {
  readonly requests?: Readonly<Partial<Record<string, string>>> | undefined;
  readonly limits?: Readonly<Partial<Record<string, string>>> | undefined;
}

/**
 * The runner's default resources as Assign mutators: each container and init container gets each
 * default request / limit its spec leaves out (pathTests MustNotExist, checked per container), as
 * `serve` applies runner.workflow.defaultResources before policy (src/pod/resources.ts). So a step
 * without a memory limit gets the same answer as from the runner at its defaults. `{}`: none.
 */
export function resourceDefaults(namespace: string, defaults: ResourceDefaults): KubeObject[] {
  const out: KubeObject[] = [];
  for (const list of ['containers', 'initContainers']) {
    for (const kind of ['requests', 'limits'] as const) {
      for (const [resource, value] of Object.entries(defaults[kind] ?? {})) {
        if (value === undefined) continue;
        const name = `${list === 'containers' ? 'c' : 'init'}-default-${kind}-${resource}`.toLowerCase();
        out.push(assign(namespace, name, `spec.${list}[name:*].resources.${kind}.${resource}`, value, true));
      }
    }
  }
  return out;
}

/** Where the API server reaches the out-of-cluster Gatekeeper, and how it trusts it. */
export interface WebhookTarget {
  /** e.g. https://127.0.0.1:40123 (loopback only). */
  readonly base: string;
  /** The serving certificate (PEM) that signs itself: the webhooks' caBundle. */
  readonly caPem: string;
  readonly namespace: string;
}

/** Admission webhook timeout (s). Gatekeeper's chart uses 3 s (validating) and 1 s (mutating); with
 * failurePolicy Fail a timeout under the bench's load would read as a denial, so both get 10 s. */
const TIMEOUT_SECONDS = 10;

function webhookCommon(t: WebhookTarget, path: string) {
  return {
    clientConfig: { url: `${t.base}${path}`, caBundle: Buffer.from(t.caPem).toString('base64') },
    rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'], scope: 'Namespaced' }],
    namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': t.namespace } },
    failurePolicy: 'Fail',
    sideEffects: 'None',
    timeoutSeconds: TIMEOUT_SECONDS,
    admissionReviewVersions: ['v1'],
  };
}

/** Names of the two webhook configurations (cluster-scoped; deleted by stop()). */
export const WEBHOOK_NAMES = {
  validating: 'kubiya-bench-gatekeeper-validating',
  mutating: 'kubiya-bench-gatekeeper-mutating',
};

/** The validating webhook (Gatekeeper's /v1/admit), fail closed, pods CREATE in the row's namespace only. */
export function validatingWebhook(t: WebhookTarget): V1ValidatingWebhookConfiguration {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingWebhookConfiguration',
    metadata: { name: WEBHOOK_NAMES.validating, labels: LABELS },
    webhooks: [{ name: 'validation.gatekeeper.sh', ...webhookCommon(t, '/v1/admit') }],
  };
}

/** The mutating webhook (Gatekeeper's /v1/mutate), fail closed, pods CREATE in the row's namespace only. */
export function mutatingWebhook(t: WebhookTarget): V1MutatingWebhookConfiguration {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name: WEBHOOK_NAMES.mutating, labels: LABELS },
    webhooks: [{ name: 'mutation.gatekeeper.sh', reinvocationPolicy: 'Never', ...webhookCommon(t, '/v1/mutate') }],
  };
}
