import { createHash } from 'node:crypto';
import type { V1NetworkPolicy, V1NetworkPolicyEgressRule, V1OwnerReference } from '@kubernetes/client-node';
import { fail, ok, type Result } from '../errors/result.ts';

/** An egress destination the policy decision allowed (the decision's `egress` list). */
export interface Destination {
  readonly host?: string | undefined;
  readonly cidr?: string | undefined;
  /** CIDRs that policy data pins for a host (egress.allowed[].cidrs). */
  readonly cidrs?: readonly string[] | undefined;
  readonly ports: readonly number[];
}

export type EgressMode = 'networkpolicy' | 'cilium';

export interface EgressContext {
  readonly name: string;
  readonly namespace: string;
  /** The labels that select exactly this step's pod. */
  readonly podLabels: Readonly<Record<string, string>>;
  /** Labels of the policy object itself (runner, workflow, run, step). */
  readonly labels: Readonly<Record<string, string>>;
  readonly owner?: V1OwnerReference | undefined;
  readonly mode: EgressMode;
  /** The namespace of the cluster DNS pods (egress.dnsNamespace; kube-system by default). */
  readonly dnsNamespace: string;
}

/** An object the runner creates for a step's egress: a NetworkPolicy, or a CiliumNetworkPolicy. */
export interface EgressObject {
  readonly apiVersion: string;
  readonly kind: 'NetworkPolicy' | 'CiliumNetworkPolicy';
  readonly metadata: V1NetworkPolicy['metadata'];
  readonly spec: unknown;
}

/** The label every namespace carries with its own name (set by the API server since Kubernetes 1.22). */
const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';
/** The label of the cluster DNS pods (CoreDNS and kube-dns both use it). */
const DNS_POD_LABELS = Object.freeze({ 'k8s-app': 'kube-dns' });

/**
 * The DNS peer: the kube-dns pods IN the DNS namespace only. Both selectors in one peer mean "pods
 * with this label in that namespace"; an empty namespaceSelector would mean any namespace, where
 * anyone who can label a pod `k8s-app=kube-dns` would receive the step's port-53 traffic.
 */
export function dnsPeer(dnsNamespace: string): {
  namespaceSelector: { matchLabels: Record<string, string> };
  podSelector: { matchLabels: Record<string, string> };
} {
  return {
    namespaceSelector: { matchLabels: { [NAMESPACE_NAME_LABEL]: dnsNamespace } },
    podSelector: { matchLabels: { ...DNS_POD_LABELS } },
  };
}

const DNS_PORTS = [
  { protocol: 'UDP', port: 53 },
  { protocol: 'TCP', port: 53 },
];

/**
 * The step's egress, default deny: DNS to kube-dns in the DNS namespace, and only the destinations its decision
 * allowed. Kubernetes NetworkPolicy has no hostnames: in `networkpolicy` mode a host must be
 * pinned to CIDRs by policy data (EGRESS_HOST_UNPINNED otherwise — the step fails rather than run
 * with egress it was promised and cannot have); in `cilium` mode hosts become `toFQDNs` rules.
 */
export function egressObject(destinations: readonly Destination[], o: EgressContext): Result<EgressObject> {
  const metadata = {
    name: o.name,
    namespace: o.namespace,
    labels: { ...o.labels },
    ...(o.owner !== undefined ? { ownerReferences: [o.owner] } : {}),
  };
  if (o.mode === 'cilium')
    return ok({ apiVersion: 'cilium.io/v2', kind: 'CiliumNetworkPolicy', metadata, spec: ciliumSpec(destinations, o) });
  const unpinned = destinations
    .filter((d) => d.cidr === undefined && (d.cidrs ?? []).length === 0)
    .map((d) => d.host ?? '?');
  if (unpinned.length > 0) {
    return fail(
      'EGRESS_HOST_UNPINNED',
      `egress to ${unpinned.join(', ')} cannot be expressed as a NetworkPolicy: pin CIDRs for it in policy data (egress.allowed[].cidrs) or set egress.mode to cilium`,
    );
  }
  const rules: V1NetworkPolicyEgressRule[] = [
    { to: [dnsPeer(o.dnsNamespace)], ports: DNS_PORTS },
    ...destinations.map((d) => ({
      to: (d.cidr !== undefined ? [d.cidr] : (d.cidrs ?? [])).map((cidr) => ({ ipBlock: { cidr } })),
      ports: d.ports.map((port) => ({ protocol: 'TCP', port })),
    })),
  ];
  return ok({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata,
    spec: { podSelector: { matchLabels: { ...o.podLabels } }, policyTypes: ['Egress'], egress: rules },
  });
}

function ciliumSpec(destinations: readonly Destination[], o: EgressContext): unknown {
  const toPorts = (ports: readonly number[]) => [{ ports: ports.map((p) => ({ port: String(p), protocol: 'TCP' })) }];
  return {
    endpointSelector: { matchLabels: { ...o.podLabels } },
    egress: [
      // DNS through Cilium's proxy, so toFQDNs learns the addresses the step resolves.
      {
        toEndpoints: [
          {
            matchLabels: {
              'k8s:io.kubernetes.pod.namespace': o.dnsNamespace,
              'k8s:k8s-app': DNS_POD_LABELS['k8s-app'],
            },
          },
        ],
        toPorts: [
          {
            ports: DNS_PORTS.map((p) => ({ port: '53', protocol: p.protocol })),
            rules: { dns: [{ matchPattern: '*' }] },
          },
        ],
      },
      ...destinations.map((d) =>
        d.host !== undefined && d.cidr === undefined
          ? { toFQDNs: [{ matchName: d.host }], toPorts: toPorts(d.ports) }
          : { toCIDR: [d.cidr ?? ''], toPorts: toPorts(d.ports) },
      ),
    ],
  };
}

/** The pod label that ties a step pod to the one egress policy rendered from its own decision. */
export const EGRESS_LABEL = 'kubiya.ai/egress';

/**
 * The value of {@link EGRESS_LABEL} for a step granted `destinations` (more than DNS): a hash of
 * the run id, the step and the destinations, as a label value ("e" and 20 hex characters). A step's
 * policy selects its pod by run, step, runner AND this value, so a policy left from an earlier
 * decision (an attempt before a policy change, a crashed pass) never selects a pod whose decision
 * granted something else, and a step granted nothing beyond DNS carries no value and is selected by
 * no step's policy at all. Undefined when nothing beyond DNS is granted (no per-step policy then).
 */
export function egressLabel(runId: string, step: string, destinations: readonly Destination[]): string | undefined {
  if (destinations.length === 0) return undefined;
  const grant = destinations.map((d) => [d.host ?? null, d.cidr ?? null, [...(d.cidrs ?? [])], [...d.ports]]);
  return `e${createHash('sha256')
    .update(JSON.stringify([runId, step, grant]))
    .digest('hex')
    .slice(0, 20)}`;
}

/** Where the runner's namespace-wide DNS policy lives and whose step pods it selects. */
export interface StepDnsContext {
  readonly runner: string;
  readonly namespace: string;
  readonly dnsNamespace: string;
}

/** The label key that names the runner, on step pods and on the objects the runner makes. */
const RUNNER_LABEL = 'kubiya.ai/runner';

/** The name of the runner's namespace-wide DNS policy: `kubiya-step-dns-<hash of the runner name>`. */
export function stepDnsPolicyName(runner: string): string {
  return `kubiya-step-dns-${createHash('sha256').update(runner).digest('hex').slice(0, 16)}`;
}

/**
 * The runner's one namespace-wide egress policy for its step pods (every pod labelled
 * `kubiya.ai/runner=<runner>`): Egress isolated, DNS to the kube-dns pods in the DNS namespace
 * allowed, nothing else. Installed once by the runner before its first pod (and confirmed before
 * every pod is created), it is the default deny of a step pod AND its DNS: a step granted nothing
 * beyond DNS needs no policy of its own, and a step pod is isolated from its first millisecond even
 * where the chart's namespace default-deny is missing. Carries no run's or step's label: it is
 * never adopted as, or mistaken for, a step's policy.
 */
export function stepDnsPolicy(o: StepDnsContext): V1NetworkPolicy {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: {
      name: stepDnsPolicyName(o.runner),
      namespace: o.namespace,
      labels: { [RUNNER_LABEL]: o.runner, 'app.kubernetes.io/managed-by': 'kubiya-runner' },
    },
    spec: {
      podSelector: { matchLabels: { [RUNNER_LABEL]: o.runner } },
      policyTypes: ['Egress'],
      egress: [{ to: [dnsPeer(o.dnsNamespace)], ports: DNS_PORTS }],
    },
  };
}
