/**
 * Argo has no policy engine. To give the same allow/deny as the runner on the parity fixtures
 * (issue 20 §1: the bench step, `:latest`, a foreign registry, no memory limit, privileged), the
 * Argo rows sit behind what a team on kube-apiserver 1.37 would write: an in-tree
 * ValidatingAdmissionPolicy on Workflow objects, so a bad step is refused when it is SUBMITTED
 * (the runner refuses at intake too), not later when Argo's controller creates the pod and the
 * Workflow merely ends Error. The namespace's restricted Pod Security admission stays the second
 * line at pod creation. The rules mirror the shipped Rego (policies/kubiya/rules/images, resources,
 * privilege) for these fixtures only; they are not a port of the whole policy.
 */

/** Registries of policies/data.json kubiya.settings.images.allowedRegistries (and Docker Hub's aliases). */
export const ALLOWED_REGISTRIES: readonly string[] = [
  'docker.io',
  'index.docker.io',
  'ghcr.io',
  'quay.io',
  'public.ecr.aws',
  'registry.k8s.io',
];

const quote = (s: string): string => s.replaceAll('.', '\\\\.');

/**
 * CEL: one container `c` is acceptable. An image's first path component is a registry when it has a
 * "." or ":" or is "localhost" (the Docker reference rule), otherwise the image is on Docker Hub.
 * Pinned: a digest, or a tag on the last path component that is not "latest".
 */
export function containerRule(c: string): string {
  const registries = ALLOWED_REGISTRIES.map(quote).join('|');
  const image = `${c}.image`;
  return [
    `(!${image}.matches('^([^/]*[.:][^/]*|localhost)/') || ${image}.matches('^(${registries})/'))`,
    `(${image}.contains('@') || (${image}.matches('^(.*/)?[^/:]+:[^/:]+$') && !${image}.matches(':latest$')))`,
    `(has(${c}.resources) && has(${c}.resources.limits) && 'memory' in ${c}.resources.limits)`,
    `(has(${c}.resources.requests) && 'cpu' in ${c}.resources.requests && 'memory' in ${c}.resources.requests)`,
    `!(has(${c}.securityContext) && has(${c}.securityContext.privileged) && ${c}.securityContext.privileged == true)`,
  ].join(' && ');
}

/** CEL: every template is a plain container template whose containers all pass containerRule. */
function templatesRule(): string {
  const each = (list: string): string => `(!has(t.${list}) || t.${list}.all(c, ${containerRule('c')}))`;
  return [
    'object.spec.templates.all(t, has(t.container)',
    `${containerRule('t.container')}`,
    each('initContainers'),
    each('sidecars'),
    '!has(t.podSpecPatch))',
  ].join(' && ');
}

/** A Kubernetes object as client-node's generic `create` takes it. */
export interface ApiObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string };
  readonly spec: Record<string, unknown>;
}

/**
 * The policy and its binding, scoped to the row's namespace. Besides the container rules it refuses
 * what would bypass them: a Workflow-level podSpecPatch, templateDefaults, a reference to a stored
 * template, and any template kind other than a plain container (script, containerSet, resource, ...).
 */
export function workflowGuard(namespace: string): readonly [ApiObject, ApiObject] {
  const name = `kubiya-bench-argo-guard-${namespace}`;
  const policy: ApiObject = {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingAdmissionPolicy',
    metadata: { name },
    spec: {
      failurePolicy: 'Fail',
      matchConstraints: {
        resourceRules: [
          {
            apiGroups: ['argoproj.io'],
            apiVersions: ['*'],
            operations: ['CREATE', 'UPDATE'],
            resources: ['workflows'],
          },
        ],
      },
      validations: [
        {
          expression:
            '!has(object.spec.podSpecPatch) && !has(object.spec.templateDefaults) && !has(object.spec.workflowTemplateRef) && has(object.spec.templates)',
          message: 'workflow-level podSpecPatch, templateDefaults and workflowTemplateRef are not allowed',
        },
        {
          expression: templatesRule(),
          message:
            'every container needs an allowed registry, a pinned tag, cpu/memory requests and a memory limit, and must not be privileged',
        },
      ],
    },
  };
  const binding: ApiObject = {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingAdmissionPolicyBinding',
    metadata: { name },
    spec: {
      policyName: name,
      validationActions: ['Deny'],
      matchResources: { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': namespace } } },
    },
  };
  return [policy, binding];
}
