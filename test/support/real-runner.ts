import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { REPO_ROOT } from '../../src/adapters/tools.ts';
import { startControlPlane, type ReferenceControlPlane, type StepEvent } from '../../src/dev/control-plane.ts';
import { REAL_STORAGE_CLASS } from '../../src/dev/node/objects.ts';
import { startServe, type ServeProcess } from './serve-process.ts';
import type { TestCluster } from './cluster.ts';

/** Extra entries for the policy data's egress.allowed (the egress tests' destinations on the node's dummy link). */
export type AllowedEgress = { host?: string; cidr?: string; cidrs?: string[]; ports: number[] };

export interface RealRunner {
  readonly cp: ReferenceControlPlane;
  readonly serve: ServeProcess;
  readonly name: string;
  /** Queues a signed assignment and resolves with the workflow's events once every step ended (or timeoutMs passed). */
  run(workflow: { id: string } & Record<string, unknown>, steps: number, timeoutMs?: number): Promise<StepEvent[]>;
  close(): Promise<void>;
}

const ENDS = new Set(['Succeeded', 'Failed', 'Cancelled', 'Error', 'Denied', 'Rejected']);

/**
 * `kubiya-runner serve` as a real process pulling assignments from the reference control plane
 * (which signs them), its steps in the workflows namespace (placed on the real node), PVCs of the
 * real node's local storage class, and the repository's policy data plus `allowed` egress entries.
 */
export async function startRealRunner(
  env: TestCluster,
  o: { name: string; allowed?: AllowedEgress[]; readOnlyRootFilesystem?: boolean },
): Promise<RealRunner> {
  const cp = await startControlPlane({ token: 'node-token' });
  const data = JSON.parse(await readFile(join(REPO_ROOT, 'policies', 'data.json'), 'utf8')) as {
    kubiya: { settings: { egress: { allowed: AllowedEgress[] } } };
  };
  data.kubiya.settings.egress.allowed.push(...(o.allowed ?? []));
  const dataFile = join(env.work, `data-${o.name}.json`);
  await writeFile(dataFile, JSON.stringify(data));
  const serve = await startServe(
    {
      runner: {
        name: o.name,
        workflow: { namespace: env.cluster.workflowsNamespace, maxConcurrent: 20 },
        storage: { storageClass: REAL_STORAGE_CLASS },
        security: { readOnlyRootFilesystem: o.readOnlyRootFilesystem ?? false },
      },
      controlPlane: { url: cp.url, issuer: cp.issuer, jwksUrl: `${cp.url}/.well-known/jwks.json` },
      policy: { bundle: env.bundle, data: dataFile },
      audit: { dir: join(env.work, `audit-${o.name}`) },
      server: { host: '127.0.0.1', port: 0, shutdownGrace: '20s' },
      kubernetes: { kubeconfig: env.cluster.kubeconfig, namespace: env.cluster.runnerNamespace, leaseDuration: '6s' },
    },
    env.work,
    { RUNNER_TOKEN: 'node-token' },
  );
  return {
    cp,
    serve,
    name: o.name,
    run: (workflow, steps, timeoutMs) => runWorkflow(cp, o.name, workflow, steps, timeoutMs),
    close: async () => {
      serve.child.kill('SIGTERM');
      await Promise.race([serve.exited, sleep(25_000)]);
      await cp.close();
    },
  };
}

/**
 * Queues a workflow signed by `cp` for the runner `runner` and resolves with the workflow's events
 * once every step ended and their logs arrived (or a denial came, or timeoutMs passed).
 */
export async function runWorkflow(
  cp: ReferenceControlPlane,
  runner: string,
  workflow: { id: string } & Record<string, unknown>,
  steps: number,
  timeoutMs = 120_000,
): Promise<StepEvent[]> {
  await cp.assign(runner, { name: workflow.id, runId: `run-${randomBytes(4).toString('hex')}`, ...workflow });
  const mine = (): StepEvent[] => cp.events.filter((e) => e.workflow === workflow.id);
  const deadline = Date.now() + timeoutMs;
  let endedAt = 0;
  while (Date.now() < deadline) {
    const ended = mine().filter((e) => e.step !== undefined && ENDS.has(e.phase)).length;
    if (mine().some((e) => e.phase === 'Denied' || e.phase === 'Rejected')) return mine();
    if (ended >= steps && endedAt === 0) endedAt = Date.now();
    // Logs follow the end events; a step's log may be missing (best effort), so wait at most 10 s more.
    const logs = mine().filter((e) => e.phase === 'Log' && e.chunk === 0).length;
    if (endedAt > 0 && (logs >= ended || Date.now() - endedAt > 10_000)) return mine();
    await sleep(200);
  }
  return mine();
}

/** The text of a step's Log events, in chunk order. */
export function stepLog(events: readonly StepEvent[], step: string): string {
  return events
    .filter((e) => e.phase === 'Log' && e.step === step)
    .sort((a, b) => (a.chunk ?? 0) - (b.chunk ?? 0))
    .map((e) => e.log ?? '')
    .join('');
}
