/**
 * Whether the API server enforces the Pod Security Standard `restricted` on the workflows
 * namespace, asked by what it does rather than by a label (red team 11, recommendation; issue 20):
 * a server-side dry-run create (`dryRun=All`: admitted or refused, never persisted, no side
 * effect) of a probe pod that `restricted` forbids at every version (a privileged container, as
 * root, escalation allowed, capabilities kept, no seccomp profile).
 *
 * Why a dry run and not a read of the namespace's labels: the runner's Role has no namespace read
 * (and should not get one), and a label is not enforcement — the PodSecurity plugin may be off, the
 * namespace or the runner's user exempt in the API server's admission configuration, or the
 * namespace unlabelled but covered by the configuration's `defaults`. PodSecurity admission runs on
 * dry-run requests (kube-apiserver runs every admission plugin on them; webhooks only when
 * `sideEffects` is None or NoneOnDryRun), so the answer is the one a step pod would get.
 *
 * The probe is honest when it is judged as a step pod is: the same namespace, the same identity
 * (the runner's own credentials: an exempt user is exempt for both), the same service account and
 * no runtimeClassName (a step pod has none; one added by admission is STEP_POD_ALTERED, so an
 * exempt runtimeClass cannot cover a step pod). No resources are set: a LimitRange's minimum, which
 * the API server checks before PodSecurity, would otherwise refuse the probe for another reason.
 */
import { ApiException, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { kubeJson, segment } from './kube-json.ts';
import { notAnswered } from './kube-errors.ts';

/** The label that marks the probe (it is never stored, so nothing selects it). */
const PROBE_LABEL = 'kubiya.ai/probe';

/**
 * What the API server's answer to the probe says:
 * - `enforced`: refused by PodSecurity at level `restricted` (`level` is the level and version
 *   the API server named, e.g. `restricted:latest` or `restricted:v1.30`);
 * - `not-enforced`: admitted (a privileged pod would run), or refused by PodSecurity at another
 *   level (`baseline` admits containers `restricted` forbids);
 * - `unknown`: any other answer (RBAC, another admission's refusal, a webhook down, 5xx, a timeout,
 *   a body that is not what the API server writes). `detail` says which, without secrets (the
 *   probe is the runner's own, so the API server's message echoes nothing of a step).
 */
export type PodSecurityVerdict =
  | { readonly kind: 'enforced'; readonly level: string }
  | { readonly kind: 'not-enforced'; readonly detail: string }
  | { readonly kind: 'unknown'; readonly detail: string };

/** What the probe got: the parsed 2xx body, or what was thrown (client-node's ApiException, or a network error). */
export type ProbeAnswer =
  { readonly ok: true; readonly body: unknown } | { readonly ok: false; readonly thrown: unknown };

/** Where the probe is sent and as what: the workflows namespace, the runner's name, the step pods' service account. */
export interface ProbeTarget {
  readonly namespace: string;
  readonly runner: string;
  readonly serviceAccount: string;
}

/**
 * PodSecurity's refusal, as kube-apiserver writes it (k8s.io/pod-security-admission, admission.go:
 * `forbiddenResponse(attrs, fmt.Errorf("violates PodSecurity %q: %s", nsPolicy.Enforce.String(), …))`
 * behind the API server's `<resource> "<name>" is forbidden: `): anchored at the start, which no
 * webhook or ValidatingAdmissionPolicy can write (theirs begin `admission webhook "…" denied` or
 * `… is forbidden: ValidatingAdmissionPolicy …`). Group 1: the level; group 2: the version.
 */
const PODSECURITY_REFUSAL =
  /^pods "[a-z0-9.-]{0,253}" is forbidden: violates PodSecurity "([a-z]{1,20}):(latest|v[0-9]{1,2}\.[0-9]{1,3})": /;

/** The probe pod: what `restricted` forbids at every version, otherwise like a step pod to admission. */
export function probePod(target: ProbeTarget): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      generateName: 'kubiya-pod-security-probe-',
      namespace: target.namespace,
      labels: { 'kubiya.ai/runner': target.runner, [PROBE_LABEL]: 'pod-security' },
    },
    spec: {
      serviceAccountName: target.serviceAccount,
      automountServiceAccountToken: false,
      restartPolicy: 'Never',
      containers: [
        {
          name: 'probe',
          image: 'registry.k8s.io/pause:3.10',
          securityContext: {
            capabilities: { add: ['SYS_ADMIN'] },
            seccompProfile: { type: 'Unconfined' },
            allowPrivilegeEscalation: true,
            runAsUser: 0,
            runAsNonRoot: false,
          },
        },
      ],
    },
  };
}

/**
 * The verdict of one answer (a pure function; the table of answers is test/unit/pod-security-probe.test.ts).
 * Enforced only on a 403 whose Status (kind Status, reason Forbidden) message is PodSecurity's
 * refusal at level `restricted`; not enforced on a 2xx whose body is a Pod (admitted), or on
 * PodSecurity's refusal at another level; unknown otherwise.
 */
export function classifyProbe(answer: ProbeAnswer): PodSecurityVerdict {
  if (answer.ok) return admittedVerdict(answer.body);
  const { thrown } = answer;
  if (!(thrown instanceof ApiException)) return { kind: 'unknown', detail: notAnswered(thrown) };
  const code = typeof thrown.code === 'number' ? thrown.code : 0;
  const status = record(typeof thrown.body === 'string' ? parsed(thrown.body) : thrown.body) ?? {};
  const message = typeof status.message === 'string' ? status.message : undefined;
  const said = message === undefined ? '' : `: ${printable(message)}`;
  if (code !== 403 || status.kind !== 'Status' || status.reason !== 'Forbidden' || message === undefined) {
    const reason = typeof status.reason === 'string' ? ` ${printable(status.reason)}` : '';
    return { kind: 'unknown', detail: `the probe got ${code}${reason}${said}` };
  }
  const m = PODSECURITY_REFUSAL.exec(message);
  if (m === null) return { kind: 'unknown', detail: `the probe was refused, not by PodSecurity: 403${said}` };
  const level = `${m[1] ?? ''}:${m[2] ?? ''}`;
  if (m[1] !== 'restricted') return { kind: 'not-enforced', detail: `PodSecurity enforces "${level}", not restricted` };
  if (!currentEnough(m[2] ?? ''))
    return {
      kind: 'not-enforced',
      detail: `PodSecurity enforces "${level}": a version before ${MIN_RESTRICTED_VERSION} lacks checks of restricted (seccomp, capabilities dropped, non-root uid); pin ${MIN_RESTRICTED_VERSION} or later, or latest`,
    };
  return { kind: 'enforced', level };
}

/**
 * The oldest `enforce-version` taken as enforcing restricted (red team 12, finding 1): restricted
 * requires a seccomp profile from v1.19, `capabilities.drop: [ALL]` from v1.22 and a non-zero
 * `runAsUser` from v1.23 (k8s.io/pod-security-admission/policy, check_*.go). The probe is refused
 * at every version, so a namespace pinned older (`pod-security.kubernetes.io/enforce-version: v1.0`,
 * a change as quiet as removing the label and not otherwise seen) would read as enforced while a
 * container admission adds to a step pod could run without a seccomp profile or with the runtime's
 * default capabilities. v1.25 (PodSecurity's GA; test/cluster/pod-security.test.ts pins it): every
 * Linux requirement of restricted as it stands. Checks that later versions add to baseline
 * (which restricted includes) are still missing under a pin: docs/configuration.md says so.
 */
const MIN_RESTRICTED_VERSION = 'v1.25';

/** `latest`, or `v<major>.<minor>` at least MIN_RESTRICTED_VERSION (compared as numbers: v1.9 < v1.25). */
function currentEnough(version: string): boolean {
  if (version === 'latest') return true;
  const v = /^v([0-9]+)\.([0-9]+)$/.exec(version);
  if (v === null) return false;
  const major = Number(v[1]);
  return major > 1 || (major === 1 && Number(v[2]) >= 25);
}

/** A 2xx: admitted when its body is the (dry-run) Pod; unknown when it is anything else. */
function admittedVerdict(body: unknown): PodSecurityVerdict {
  return record(body)?.kind === 'Pod'
    ? {
        kind: 'not-enforced',
        detail: 'a probe pod that restricted forbids was admitted (dry run): PodSecurity restricted is not enforced',
      }
    : { kind: 'unknown', detail: 'the API server answered the probe with a body that is not a Pod' };
}

/**
 * Sends the probe (POST …/pods?dryRun=All through the KubeConfig's pooled connection and its
 * request deadline, src/adapters/kubeconfig.ts) and classifies the answer. Never throws.
 */
export async function probePodSecurity(kc: KubeConfig, target: ProbeTarget): Promise<PodSecurityVerdict> {
  const answer: ProbeAnswer = await kubeJson(kc, {
    method: 'POST',
    path: `/api/v1/namespaces/${segment(target.namespace)}/pods?dryRun=All`,
    body: probePod(target),
  }).then(
    (body): ProbeAnswer => ({ ok: true, body }),
    (thrown: unknown): ProbeAnswer => ({ ok: false, thrown }),
  );
  return classifyProbe(answer);
}

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

function parsed(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** At most 300 characters, control characters replaced: a message for one log line. */
function printable(text: string): string {
  // eslint-disable-next-line no-control-regex -- the point is to drop control characters
  return text.slice(0, 300).replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ');
}
