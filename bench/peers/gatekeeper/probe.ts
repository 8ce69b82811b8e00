import { ApiException, type CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ParityVerdict } from '../peer.ts';

/**
 * The ready gate of the Gatekeeper row: dry-run pod creations (nothing is stored; the admission
 * chain runs as for a real one) until every mutator has been applied and every Constraint denies.
 * A template compiles and its Constraint CRD appears some seconds after it is created, so
 * "installed" is not "enforced": only an answer of the API server proves it.
 */
export interface ProbeCase {
  readonly name: string;
  readonly pod: V1Pod;
  /** allow: created with the restricted fields set; deny: refused by Gatekeeper's validating webhook. */
  readonly want: ParityVerdict;
}

const RESOURCES = { requests: { cpu: '10m', memory: '16Mi' }, limits: { memory: '16Mi' } };

function probePod(name: string, image: string, resources: object = RESOURCES): V1Pod {
  return {
    metadata: { name },
    spec: {
      restartPolicy: 'Never',
      initContainers: [{ name: 'init', image: 'registry.k8s.io/pause:3.10', resources: RESOURCES }],
      containers: [{ name: 'main', image, resources }],
    },
  };
}

/**
 * One allowed probe (checks every Assign, init container included) and one denied probe per
 * Constraint. With the runner's default resources (`defaulted`), the probe without a memory limit
 * is admitted with the default limit instead: the runner admits that step too.
 */
export function probes(defaulted: boolean): ProbeCase[] {
  const noLimit = probePod('gk-probe-nolimit', 'ghcr.io/acme/tool:1.0', { requests: RESOURCES.requests });
  return [
    { name: 'allowed', pod: probePod('gk-probe-allowed', 'migrate/migrate:v4.17.0'), want: 'allow' },
    { name: 'latest', pod: probePod('gk-probe-latest', 'ghcr.io/acme/tool:latest'), want: 'deny' },
    { name: 'foreign-registry', pod: probePod('gk-probe-foreign', 'registry.example.com/tool:1.0'), want: 'deny' },
    { name: 'no-memory-limit', pod: noLimit, want: defaulted ? 'allow' : 'deny' },
  ];
}

/** The pod as restricted PSS wants it after the Assign mutators; a list of what is missing. */
export function missingHardening(pod: V1Pod): string[] {
  const missing: string[] = [];
  const psc = pod.spec?.securityContext;
  if (psc?.runAsNonRoot !== true) missing.push('spec.securityContext.runAsNonRoot');
  if (psc?.seccompProfile?.type !== 'RuntimeDefault') missing.push('spec.securityContext.seccompProfile');
  const all = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])];
  for (const c of all) {
    if (c.securityContext?.allowPrivilegeEscalation !== false) missing.push(`${c.name}.allowPrivilegeEscalation`);
    if (c.securityContext?.capabilities?.drop?.join(',') !== 'ALL') missing.push(`${c.name}.capabilities.drop`);
  }
  return missing;
}

/** Why a probe does not yet answer as wanted; undefined when it does. */
async function probeOnce(core: CoreV1Api, namespace: string, p: ProbeCase): Promise<string | undefined> {
  try {
    const created = await core.createNamespacedPod({ namespace, body: p.pod, dryRun: 'All' });
    if (p.want === 'deny') return `${p.name}: admitted`;
    const missing = missingHardening(created);
    for (const c of created.spec?.containers ?? [])
      if (c.resources?.limits?.memory === undefined) missing.push(`${c.name}.resources.limits.memory`);
    return missing.length === 0 ? undefined : `${p.name}: not mutated (${missing.join(', ')})`;
  } catch (e) {
    if (!(e instanceof ApiException)) throw e;
    const body = String(e.body);
    if (p.want === 'deny' && body.includes('validation.gatekeeper.sh')) return undefined;
    return `${p.name}: HTTP ${e.code} ${body.slice(0, 300)}`;
  }
}

/** Polls the probes until all answer as wanted, or throws after timeoutMs with the last reasons. */
export async function waitEnforced(
  core: CoreV1Api,
  namespace: string,
  cases: readonly ProbeCase[],
  timeoutMs: number,
): Promise<number> {
  const t0 = Date.now();
  let reasons: string[] = [];
  while (Date.now() - t0 < timeoutMs) {
    reasons = (await Promise.all(cases.map((p) => probeOnce(core, namespace, p)))).filter((r) => r !== undefined);
    if (reasons.length === 0) return Date.now() - t0;
    await sleep(250);
  }
  throw new Error(`gatekeeper: policies not enforced after ${timeoutMs} ms: ${reasons.join('; ')}`);
}
