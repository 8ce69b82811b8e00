import { NODE } from './configs.ts';
import { CANARY, COREDNS_IMAGE, GATE_IMAGE } from './catalogue.ts';

/** The namespace label that turns the egress gate on for every pod created in that namespace. */
export const GATE_LABEL = 'kubiya.dev/egress-gate';
export const GATE_CONTAINER = 'kubiya-egress-gate';
/** The storage class of the real node's pre-created local volumes (fsGroup is applied to `local` volumes, not to hostPath). */
export const REAL_STORAGE_CLASS = 'kubiya-real-local';

/**
 * A MutatingAdmissionPolicy (in-tree, CEL, no webhook server) that puts the egress gate first among
 * the init containers of every pod created in a namespace labelled `kubiya.dev/egress-gate=enabled`:
 * the pod's other containers start only once the canary is refused, i.e. once the enforcer has
 * programmed this pod's NetworkPolicy rules. Restricted-PSS compliant (no privilege escalation,
 * all capabilities dropped, read-only root; the pod's own runAsNonRoot/seccomp apply).
 */
export function egressGatePolicy(limitSeconds = 60): { policy: object; binding: object } {
  const gate = `Object.spec.initContainers{name: "${GATE_CONTAINER}", image: "${GATE_IMAGE}", imagePullPolicy: "IfNotPresent", args: ["${CANARY.host}", "${String(CANARY.port)}", "${String(limitSeconds)}"], securityContext: Object.spec.initContainers.securityContext{allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: Object.spec.initContainers.securityContext.capabilities{drop: ["ALL"]}}}`;
  return {
    policy: {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingAdmissionPolicy',
      metadata: { name: 'kubiya-egress-gate' },
      spec: {
        matchConstraints: {
          namespaceSelector: { matchLabels: { [GATE_LABEL]: 'enabled' } },
          resourceRules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'] }],
        },
        failurePolicy: 'Fail',
        reinvocationPolicy: 'Never',
        mutations: [
          {
            patchType: 'JSONPatch',
            jsonPatch: {
              // The typed object is spelled twice: CEL variables are not typed against the pod's schema.
              expression: `has(object.spec.initContainers) && size(object.spec.initContainers) > 0 ? [JSONPatch{op: "add", path: "/spec/initContainers/0", value: ${gate}}] : [JSONPatch{op: "add", path: "/spec/initContainers", value: [${gate}]}]`,
            },
          },
        ],
      },
    },
    binding: {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingAdmissionPolicyBinding',
      metadata: { name: 'kubiya-egress-gate' },
      spec: { policyName: 'kubiya-egress-gate' },
    },
  };
}

/** Namespace annotations that place every pod of the namespace on the real node (PodNodeSelector + PodTolerationRestriction). */
export const REAL_NODE_ANNOTATIONS = Object.freeze({
  'scheduler.alpha.kubernetes.io/node-selector': `${NODE.label}=true`,
  'scheduler.alpha.kubernetes.io/defaultTolerations': JSON.stringify([
    { key: NODE.label, operator: 'Exists', effect: 'NoSchedule' },
  ]),
});

/** The toleration and selector a single pod (outside a real-node namespace) uses to land on the real node. */
export const REAL_NODE_PLACEMENT = Object.freeze({
  nodeSelector: { [NODE.label]: 'true' },
  tolerations: [{ key: NODE.label, operator: 'Exists', effect: 'NoSchedule' }],
});

/** CoreDNS answering for test names only (hosts plugin, nothing forwarded: there is no network to forward to). */
export function corefile(): string {
  return `.:53 {
    errors
    hosts {
        ${NODE.ip} allowed.kubiya.test
        ${NODE.canaryIp} canary.kubiya.test
    }
}
`;
}

/** The cluster DNS: a ConfigMap, a pod labelled k8s-app=kube-dns on the real node, and the kube-dns Service. */
export function dnsObjects(): { configMap: object; pod: object; service: object } {
  const labels = { 'k8s-app': 'kube-dns' };
  return {
    configMap: { metadata: { name: 'coredns', namespace: 'kube-system' }, data: { Corefile: corefile() } },
    pod: {
      metadata: { name: 'coredns', namespace: 'kube-system', labels },
      spec: {
        nodeName: NODE.name,
        tolerations: REAL_NODE_PLACEMENT.tolerations,
        automountServiceAccountToken: false,
        securityContext: { runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } },
        containers: [
          {
            name: 'coredns',
            image: COREDNS_IMAGE,
            imagePullPolicy: 'IfNotPresent',
            args: ['-conf', '/etc/coredns/Corefile'],
            ports: [
              { containerPort: 53, protocol: 'UDP', name: 'dns' },
              { containerPort: 53, protocol: 'TCP', name: 'dns-tcp' },
            ],
            securityContext: {
              allowPrivilegeEscalation: false,
              readOnlyRootFilesystem: true,
              capabilities: { drop: ['ALL'] },
            },
            volumeMounts: [{ name: 'config', mountPath: '/etc/coredns' }],
          },
        ],
        volumes: [{ name: 'config', configMap: { name: 'coredns' } }],
      },
    },
    service: {
      metadata: { name: 'kube-dns', namespace: 'kube-system', labels },
      spec: {
        clusterIP: NODE.dnsIp,
        selector: labels,
        ports: [
          { name: 'dns', port: 53, protocol: 'UDP', targetPort: 53 },
          { name: 'dns-tcp', port: 53, protocol: 'TCP', targetPort: 53 },
        ],
      },
    },
  };
}

/** Pre-created `local` PVs on the real node (the binder gives them to claims of REAL_STORAGE_CLASS). */
export function localVolumes(dir: string, count: number): object[] {
  return Array.from({ length: count }, (_, i) => ({
    metadata: { name: `kubiya-real-pv-${i}` },
    spec: {
      storageClassName: REAL_STORAGE_CLASS,
      capacity: { storage: '50Gi' },
      accessModes: ['ReadWriteOnce'],
      persistentVolumeReclaimPolicy: 'Retain',
      local: { path: `${dir}/pv-${i}` },
      nodeAffinity: {
        required: {
          nodeSelectorTerms: [
            { matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [NODE.name] }] },
          ],
        },
      },
    },
  }));
}
