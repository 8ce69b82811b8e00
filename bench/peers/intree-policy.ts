/**
 * The in-tree row's policy (issue 20 §1), authored here in CEL for admissionregistration.k8s.io/v1:
 * a ValidatingAdmissionPolicy with the runner's image and resource rules (images in the runner's
 * reference grammar, only from policies/data.json's allowedRegistries with Docker Hub names
 * normalised as our Rego does; no `:latest` and no untagged image unless pinned by digest;
 * cpu/memory requests and a memory limit on every container and init container) and a MutatingAdmissionPolicy applying the restricted
 * securityContext the runner's mutation sets. The namespace's PodSecurity `restricted` runs after
 * both and denies anything the mutation leaves (a privileged container is not mutated at all).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type {
  V1MutatingAdmissionPolicy,
  V1MutatingAdmissionPolicyBinding,
  V1ValidatingAdmissionPolicy,
  V1ValidatingAdmissionPolicyBinding,
} from '@kubernetes/client-node';
import { REPO_ROOT } from '../../src/adapters/tools.ts';
import { DOCKER_HUB_ALIASES, REFERENCE_PATTERN } from '../../src/oci/image-ref.ts';

/** The allowed registries of the runner's policy data (policies/data.json), as bare hosts. */
export function allowedRegistries(): string[] {
  const data = JSON.parse(readFileSync(join(REPO_ROOT, 'policies', 'data.json'), 'utf8')) as {
    kubiya: { settings: { images: { allowedRegistries: string[] } } };
  };
  return data.kubiya.settings.images.allowedRegistries;
}

const cel = (s: string): string => `'${s.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
const list = (xs: readonly string[]): string => `[${xs.map(cel).join(', ')}]`;

/**
 * CEL: the registry of image reference `i` (a string), normalised as src/oci/image-ref.ts does: the
 * first path component is a registry only when the name has a "/" and that component has a "." or
 * ":", is "localhost" or has upper case (then lower-cased); otherwise docker.io. (This API server's
 * CEL has no cel.bind, so the sub-expressions are repeated.)
 */
export function registryExpr(i: string): string {
  const name = `${i}.split('@')[0]`;
  const first = `${name}.split('/')[0]`;
  const isRegistry = `(${name}.contains('/') && (${first}.contains('.') || ${first}.contains(':') || ${first} == 'localhost' || ${first}.lowerAscii() != ${first}))`;
  return `(${isRegistry} ? ${first}.lowerAscii() : 'docker.io')`;
}

/** CEL: the last path component of image `i` (where a tag is), for images not pinned by digest. */
export const lastComponentExpr = (i: string): string => `${i}.substring(${i}.lastIndexOf('/') + 1)`;

const ALL_CONTAINERS = 'object.spec.containers + (has(object.spec.initContainers) ? object.spec.initContainers : [])';
const PODS = [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'] }];

/** The ValidatingAdmissionPolicy `name` (the runner's image and resource rules). */
export function validatingPolicy(name: string, registries: readonly string[]): V1ValidatingAdmissionPolicy {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingAdmissionPolicy',
    metadata: { name },
    spec: {
      failurePolicy: 'Fail',
      matchConstraints: { resourceRules: PODS },
      variables: [
        { name: 'containers', expression: ALL_CONTAINERS },
        { name: 'registries', expression: `variables.containers.map(c, ${registryExpr('c.image')})` },
        {
          name: 'unpinned',
          expression: `variables.containers.filter(c, !c.image.contains('@')).map(c, ${lastComponentExpr('c.image')})`,
        },
      ],
      validations: [
        {
          // The runner's reference grammar (src/oci/image-ref.ts, RE2-compatible), so an image the
          // runner refuses as invalid is refused here too.
          expression: `variables.containers.all(c, size(c.image) <= 1024 && c.image.matches(${cel(REFERENCE_PATTERN)}))`,
          message: 'every image must be a valid image reference (distribution grammar)',
          reason: 'Forbidden',
        },
        {
          // Docker Hub aliases are docker.io (DOCKER_HUB_ALIASES in src/oci/image-ref.ts).
          expression: `variables.registries.all(r, r in ${list(registries)} || (r in ${list(DOCKER_HUB_ALIASES)} && 'docker.io' in ${list(registries)}))`,
          message: `every image must come from an allowed registry (${registries.join(', ')})`,
          reason: 'Forbidden',
        },
        {
          expression: "variables.unpinned.all(l, l.contains(':') && l.substring(l.indexOf(':') + 1) != 'latest')",
          message: 'every image must name a version tag or a digest (not latest or untagged)',
          reason: 'Forbidden',
        },
        {
          expression:
            "variables.containers.all(c, has(c.resources) && has(c.resources.requests) && 'cpu' in c.resources.requests && 'memory' in c.resources.requests && has(c.resources.limits) && 'memory' in c.resources.limits)",
          message: 'every container must request cpu and memory and set a memory limit',
          reason: 'Forbidden',
        },
      ],
    },
  };
}

/**
 * CEL: the runner's container securityContext as an apply configuration of list item type `t`,
 * except capabilities (its `drop` is an atomic list, which an apply configuration may not set).
 */
const containerContext = (t: string): string =>
  `${t}.securityContext{allowPrivilegeEscalation: false, runAsNonRoot: true, seccompProfile: ${t}.securityContext.seccompProfile{type: 'RuntimeDefault'}}`;

/** CEL: JSON patches setting capabilities {drop: [ALL]} on every container of list `field` (after the apply above made securityContext). */
const dropAll = (field: 'containers' | 'initContainers'): string =>
  `lists.range(size(object.spec.${field})).map(i, JSONPatch{op: 'add', path: '/spec/${field}/' + string(i) + '/securityContext/capabilities', value: Object.spec.${field}.securityContext.capabilities{drop: ['ALL']}})`;

/** The MutatingAdmissionPolicy `name`: the runner's restricted securityContext (pod and every container). */
export function mutatingPolicy(name: string): V1MutatingAdmissionPolicy {
  const pod = 'Object.spec.securityContext';
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingAdmissionPolicy',
    metadata: { name },
    spec: {
      failurePolicy: 'Fail',
      reinvocationPolicy: 'Never',
      matchConstraints: { resourceRules: PODS },
      // A privileged container is left as it is: PodSecurity restricted then denies the pod.
      matchConditions: [
        {
          name: 'no-privileged-container',
          expression: `!(${ALL_CONTAINERS}).exists(c, has(c.securityContext) && has(c.securityContext.privileged) && c.securityContext.privileged)`,
        },
      ],
      mutations: [
        {
          patchType: 'ApplyConfiguration',
          applyConfiguration: {
            expression: `Object{spec: Object.spec{securityContext: ${pod}{runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, fsGroup: 65532, seccompProfile: ${pod}.seccompProfile{type: 'RuntimeDefault'}}, containers: object.spec.containers.map(c, Object.spec.containers{name: c.name, securityContext: ${containerContext('Object.spec.containers')}})}}`,
          },
        },
        {
          patchType: 'ApplyConfiguration',
          applyConfiguration: {
            expression: `has(object.spec.initContainers) ? Object{spec: Object.spec{initContainers: object.spec.initContainers.map(c, Object.spec.initContainers{name: c.name, securityContext: ${containerContext('Object.spec.initContainers')}})}} : Object{}`,
          },
        },
        {
          patchType: 'JSONPatch',
          jsonPatch: {
            expression: `${dropAll('containers')} + (has(object.spec.initContainers) ? ${dropAll('initContainers')} : [])`,
          },
        },
      ],
    },
  };
}

const inNamespace = (namespace: string) => ({
  namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': namespace } },
});

/** The binding of the validating policy to `namespace` only (action Deny). */
export function validatingBinding(name: string, policy: string, namespace: string): V1ValidatingAdmissionPolicyBinding {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingAdmissionPolicyBinding',
    metadata: { name },
    spec: { policyName: policy, validationActions: ['Deny'], matchResources: inNamespace(namespace) },
  };
}

/** The binding of the mutating policy to `namespace` only. */
export function mutatingBinding(name: string, policy: string, namespace: string): V1MutatingAdmissionPolicyBinding {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingAdmissionPolicyBinding',
    metadata: { name },
    spec: { policyName: policy, matchResources: inNamespace(namespace) },
  };
}
