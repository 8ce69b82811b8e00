/**
 * The runner's row of the peers scenario (issue 20 §1): a real `kubiya-runner serve` (as
 * bench/cluster.ts starts it) whose workflows namespace is the row's namespace. Each step is the
 * step pod read back into a one-step workflow, signed as an assignment and POSTed to the intake;
 * the runner builds, checks, hardens and creates the pod itself. Its terminal record is the durable
 * `finish` audit record of the step.
 */
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api, CustomObjectsApi, NetworkingV1Api, type V1Pod } from '@kubernetes/client-node';
import { readAuditLog } from '../../src/adapters/audit-file.ts';
import type { Cluster } from '../../src/dev/cluster.ts';
import { signAssignment } from '../../src/dev/sign.ts';
import { podName } from '../../src/pod/names.ts';
import type { ServeProcess } from '../../test/support/serve-process.ts';
import { ISSUER, startBenchServe, type RunnerKit } from '../runner-env.ts';
import type { PeerEnv, PeerRow, StepSpec } from './peer.ts';
import { stepContainer } from './step.ts';

const NAME = 'peer-runner';

/**
 * The one-step workflow a step pod stands for: its run id (label kubiya.ai/run), the step
 * container's image, command, env and resources. A securityContext on the container is passed on
 * as the step's own field: the runner's workflow schema has none, so its intake refuses the step.
 */
export function workflowOfPod(pod: V1Pod): {
  readonly runId: string;
  readonly workflow: { id: string } & Record<string, unknown>;
} {
  const runId = pod.metadata?.labels?.['kubiya.ai/run'];
  const c = stepContainer(pod);
  if (runId === undefined || c === undefined) throw new Error('not a step pod (no kubiya.ai/run label or container)');
  const step: Record<string, unknown> = {
    name: c.name,
    image: c.image,
    ...(c.command !== undefined ? { command: c.command } : {}),
    env: Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value ?? ''])),
    ...(c.resources !== undefined ? { resources: c.resources } : {}),
    ...(c.securityContext !== undefined ? { securityContext: c.securityContext } : {}),
  };
  return { runId, workflow: { id: runId, name: 'bench', runId, steps: [step] } };
}

/** Finish records by pod name, re-read from the audit log at most every 300 ms while someone waits. */
function finishRecords(dir: string): (pod: string, timeoutMs: number) => Promise<number | undefined> {
  const seen = new Map<string, number>();
  let reading: Promise<void> | undefined;
  const reread = (): Promise<void> =>
    (reading ??= (async () => {
      for (const r of await readAuditLog(dir))
        if (r.stage === 'finish' && r.pod !== undefined) seen.set(r.pod.name, new Date(r.timestamp).getTime());
      await sleep(300);
      reading = undefined;
    })());
  return async (pod, timeoutMs) => {
    const deadline = Date.now() + timeoutMs;
    while (!seen.has(pod) && Date.now() < deadline) await reread();
    return seen.get(pod);
  };
}

/**
 * Deletes the row's WorkflowRuns, step NetworkPolicies (label kubiya.ai/run; the namespace's
 * default deny stays) and pods, and waits (60 s) until the runs and policies are gone, so the
 * garbage collector's deletes do not fall into the next row's round.
 */
async function resetRunner(e: PeerEnv): Promise<void> {
  const runs = { group: 'kubiya.ai', version: 'v1alpha1', namespace: e.namespace, plural: 'workflowruns' };
  const objects = e.kubeConfig.makeApiClient(CustomObjectsApi);
  const net = e.kubeConfig.makeApiClient(NetworkingV1Api);
  await objects.deleteCollectionNamespacedCustomObject(runs);
  await net.deleteCollectionNamespacedNetworkPolicy({ namespace: e.namespace, labelSelector: 'kubiya.ai/run' });
  await e.kubeConfig
    .makeApiClient(CoreV1Api)
    .deleteCollectionNamespacedPod({ namespace: e.namespace, gracePeriodSeconds: 0 });
  for (let i = 0; i < 300; i++) {
    const left = ((await objects.listNamespacedCustomObject(runs)) as { items: unknown[] }).items.length;
    const policies = (await net.listNamespacedNetworkPolicy({ namespace: e.namespace, labelSelector: 'kubiya.ai/run' }))
      .items.length;
    if (left + policies === 0) return;
    await sleep(200);
  }
  throw new Error(`runner row: WorkflowRuns or step NetworkPolicies left in ${e.namespace} after 60 s`);
}

/** The runner row; `kit` and `cluster` are the shared control plane's (bench/runner-env.ts). */
export function runnerRow(kit: RunnerKit, cluster: Cluster): PeerRow {
  let serve: ServeProcess | undefined;
  let env: PeerEnv | undefined;
  let finished: ReturnType<typeof finishRecords> | undefined;
  const started = (): { serve: ServeProcess; env: PeerEnv } => {
    if (serve === undefined || env === undefined) throw new Error('the runner row is not started');
    return { serve, env };
  };
  return {
    name: 'kubiya-runner serve',
    skipReason: () => Promise.resolve(undefined),
    async start(e) {
      env = e;
      // defaultResources {}: a step without a memory limit is decided by policy (denied), as in every
      // other row; with the defaults on, the runner would give it a 512Mi limit and admit it.
      serve = await startBenchServe(kit, cluster, e.workDir, {
        name: NAME,
        namespace: e.namespace,
        workflow: { defaultResources: {} },
      });
      finished = finishRecords(join(e.workDir, `audit-${NAME}`));
    },
    async submit(step: StepSpec) {
      const { serve: s } = started();
      const { runId, workflow } = workflowOfPod(step.pod);
      const token = await signAssignment(kit.key, { issuer: ISSUER, audience: NAME, workflow, ttlSeconds: 3600 });
      const res = await fetch(`${s.base}/v1/assignments`, {
        method: 'POST',
        headers: { 'content-type': 'application/jwt' },
        body: token,
      });
      const body = await res.text();
      if (res.status === 202) return { podName: podName(runId, 'step') };
      if (res.status >= 400 && res.status < 500)
        throw new Error(`denied: intake answered ${res.status}: ${body.slice(0, 300)}`);
      throw new Error(`intake answered ${res.status}: ${body.slice(0, 300)}`);
    },
    async denial(step) {
      const { env: e } = started();
      const { runId } = workflowOfPod(step.pod);
      const denied = (await readAuditLog(join(e.workDir, `audit-${NAME}`))).find(
        (r) => r.workflow?.runId === runId && r.outcome === 'deny',
      );
      return denied === undefined ? undefined : `audit: ${denied.stage} deny ${denied.code ?? ''}`.trim();
    },
    terminalRecordAt: (step) => (finished ?? (() => Promise.resolve(undefined)))(step.pod.metadata?.name ?? '', 60_000),
    reset: () => resetRunner(started().env),
    pids: () => (serve?.child.pid !== undefined ? [serve.child.pid] : []),
    async stop() {
      if (serve === undefined) return;
      serve.child.kill('SIGTERM');
      const exited = await Promise.race([serve.exited.then(() => true), sleep(30_000).then(() => false)]);
      if (!exited) serve.child.kill('SIGKILL');
      serve = undefined;
    },
    lacks: [],
  };
}
