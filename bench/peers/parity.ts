/**
 * The parity check of the peers scenario (issue 20 §1): five fixture pods — the bench step, a
 * `:latest` image, a foreign registry, no memory limit, a privileged container — go through every
 * system before anything is measured; each must answer as the runner does, or the bench stops. An
 * admitted pod must also carry the restricted securityContext (the system's own mutation).
 */
import type { V1Container, V1Pod, V1PodSecurityContext } from '@kubernetes/client-node';
import type { ParityVerdict } from './peer.ts';
import { stepContainer } from './step.ts';

export type FixtureName = 'bench-step' | 'latest-tag' | 'foreign-registry' | 'no-memory-limit' | 'privileged';

/** The fixtures in order, each a change to the bench step pod, and the runner's expected answer. */
export const FIXTURES: readonly {
  readonly name: FixtureName;
  readonly expected: ParityVerdict;
  readonly change: (step: V1Container) => void;
}[] = [
  { name: 'bench-step', expected: 'allow', change: () => undefined },
  { name: 'latest-tag', expected: 'deny', change: (c) => void (c.image = 'python:latest') },
  {
    name: 'foreign-registry',
    expected: 'deny',
    change: (c) => void (c.image = 'registry.example.com/python:3.11-slim'),
  },
  {
    name: 'no-memory-limit',
    expected: 'deny',
    change: (c) => void (c.resources = { requests: c.resources?.requests }),
  },
  { name: 'privileged', expected: 'deny', change: (c) => void (c.securityContext = { privileged: true }) },
];

/** The fixture pods: `base(runId)` builds the unhardened step pod of a run; each fixture changes its step container. */
export function parityPods(base: (runId: string) => V1Pod): { readonly name: FixtureName; readonly pod: V1Pod }[] {
  return FIXTURES.map((f) => {
    const pod = base(`parity-${f.name}`);
    const c = stepContainer(pod);
    if (c === undefined) throw new Error('the step pod has no container');
    f.change(c);
    return { name: f.name, pod };
  });
}

export type Verdicts = Readonly<Partial<Record<FixtureName, ParityVerdict>>>;

/** "fixture: expected X, row said Y" for every fixture where `row` differs from `reference` (or is missing). */
export function parityMismatches(reference: Verdicts, row: Verdicts): string[] {
  const out: string[] = [];
  for (const f of FIXTURES) {
    const want = reference[f.name];
    if (want === undefined) continue;
    const got = row[f.name];
    if (got !== want) out.push(`${f.name}: the runner says ${want}, this row said ${got ?? 'nothing'}`);
  }
  return out;
}

/**
 * What keeps an admitted pod from the restricted profile's securityContext, one phrase each ([]
 * when none): runAsNonRoot and a RuntimeDefault/Localhost seccomp profile (pod or container level),
 * and on every container and init container allowPrivilegeEscalation false, capabilities dropping
 * ALL, not privileged.
 */
export function restrictedGaps(pod: V1Pod): string[] {
  const containers = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])];
  return containers.flatMap((c) => containerGaps(c, pod.spec?.securityContext));
}

/** The securityContext fields that decide the restricted profile, container level over pod level. */
function effective(c: V1Container, podSc: V1PodSecurityContext | undefined) {
  const sc = c.securityContext ?? {};
  return {
    runAsNonRoot: sc.runAsNonRoot ?? podSc?.runAsNonRoot,
    seccomp: sc.seccompProfile?.type ?? podSc?.seccompProfile?.type,
    allowPrivilegeEscalation: sc.allowPrivilegeEscalation,
    drop: sc.capabilities?.drop ?? [],
    privileged: sc.privileged,
  };
}

/** The gaps of one container under the pod-level context `podSc`. */
function containerGaps(c: V1Container, podSc: V1PodSecurityContext | undefined): string[] {
  const e = effective(c, podSc);
  const checks: [boolean, string][] = [
    [e.runAsNonRoot !== true, 'runAsNonRoot not true'],
    [e.seccomp !== 'RuntimeDefault' && e.seccomp !== 'Localhost', `seccompProfile ${e.seccomp ?? 'unset'}`],
    [e.allowPrivilegeEscalation !== false, 'allowPrivilegeEscalation not false'],
    [!e.drop.includes('ALL'), 'capabilities do not drop ALL'],
    [e.privileged === true, 'privileged'],
  ];
  return checks.filter(([gap]) => gap).map(([, what]) => `${c.name}: ${what}`);
}
