/**
 * Peer rows "argo v4.0.5 (defaults)" and "argo v4.0.5 (tuned)" of the full bench (issue 20 §1):
 * Argo Workflows' workflow-controller, built by `bash tools/build.sh workflow-controller`, run out
 * of cluster against the bench's own API server, one controller per row in its own namespace.
 *
 * Per step the row creates one Workflow (argo/manifest.ts workflowFor) whose container template is
 * the bench's unhardened step pod; Argo creates the pod (same name) and, once kwok ends it, marks
 * the Workflow Succeeded: that status is Argo's terminal record. Refusals come from the Workflow
 * guard (argo/guard.ts, an in-tree ValidatingAdmissionPolicy) at submit. v4.0.5 carries reported
 * security advisories: it reaches only the throwaway loopback API server and listens on nothing.
 */
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api, CustomObjectsApi, KubernetesObjectApi } from '@kubernetes/client-node';
import { toolsDir } from '../../src/adapters/tools.ts';
import { startProcess, stopPid, type Started } from '../../src/dev/processes.ts';
import { workflowGuard } from './argo/guard.ts';
import { acquireShared, crdDir, releaseShared } from './argo/install.ts';
import { submitError, WorkflowTerminal, type WorkflowObj } from './argo/outcome.ts';
import {
  ARGO_VERSION,
  BENCH_LABEL,
  CONFIGMAP_NAME,
  controllerArgs,
  controllerConfig,
  controllerEnv,
  DEFAULTS,
  TUNED,
  workflowFor,
  type ArgoProfile,
} from './argo/manifest.ts';
import { warmUp } from './argo/warmup.ts';
import { assertLoopbackOnly } from './listeners.ts';
import type { PeerEnv, PeerRow, StepSpec } from './peer.ts';
import { resilientWatch } from './watch.ts';

const GROUP = { group: 'argoproj.io', version: 'v1alpha1', plural: 'workflows' } as const;
/** How long terminalRecordAt waits for Succeeded after the pod Succeeded (the default requeue is 10 s). */
const TERMINAL_TIMEOUT_MS = 120_000;

/** What Argo does not do that the runner does (BENCHMARKS.md peer table). */
export const ARGO_LACKS: readonly string[] = [
  'no token verification (any client with Workflow create rights submits)',
  'no policy engine: decisions only from the in-tree Workflow guard written for the bench',
  'no signed, hash-chained audit record',
  'no per-step egress policy',
  'step pods mount a service-account token (its executor needs one)',
];

interface Running {
  readonly env: PeerEnv;
  readonly guard: ReturnType<typeof workflowGuard>;
  /** Set once spawned / watching; stop() undoes whatever start() got to. */
  proc?: Started;
  stopWatch?: () => void;
}

/** Path of the built controller (tools/build.sh links it into .tools/bin). */
export function controllerBin(): string {
  return join(toolsDir(), 'workflow-controller');
}

class ArgoRow implements PeerRow {
  readonly name: string;
  readonly lacks = ARGO_LACKS;
  private running: Running | undefined;
  private readonly terminal = new WorkflowTerminal(TERMINAL_TIMEOUT_MS);
  private readonly profile: ArgoProfile;
  constructor(profile: ArgoProfile) {
    this.profile = profile;
    this.name = `argo ${ARGO_VERSION} (${profile.id})`;
  }
  private get label(): string {
    return `argo-${this.profile.id}`;
  }

  async skipReason(): Promise<string | undefined> {
    try {
      accessSync(controllerBin(), constants.X_OK);
      accessSync(await crdDir(), constants.R_OK);
      return undefined;
    } catch {
      return 'workflow-controller not built: run `bash tools/build.sh workflow-controller` (Go module proxy, long cold build)';
    }
  }

  /** Shared CRDs, this row's guard and ConfigMap, the controller, its Workflow watch, then a warm-up. On failure stop() undoes what was done. */
  async start(env: PeerEnv): Promise<void> {
    await acquireShared(env.kubeConfig);
    this.running = { env, guard: workflowGuard(env.namespace) };
    try {
      await this.launch(this.running);
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  private async launch(r: Running): Promise<void> {
    const { kubeConfig: kc, namespace } = r.env;
    const objects = kc.makeApiClient(KubernetesObjectApi);
    for (const o of r.guard) await objects.create(o);
    await kc.makeApiClient(CoreV1Api).createNamespacedConfigMap({
      namespace,
      body: { metadata: { name: CONFIGMAP_NAME }, data: controllerConfig() },
    });
    const proc = startProcess(
      'workflow-controller',
      controllerBin(),
      controllerArgs(this.profile, r.env.kubeconfigPath, namespace),
      join(r.env.workDir, `workflow-controller-${this.profile.id}.log`),
      false,
      { ...process.env, ...controllerEnv(this.profile) },
    );
    r.proc = proc;
    // Not test/support/watch.ts's watchAll: it passes a 410 "too old" ERROR event on and resumes from
    // the same version forever, so an idle row's watch went blind after another row's round.
    const watch = await resilientWatch<WorkflowObj>(
      kc,
      `/apis/argoproj.io/v1alpha1/namespaces/${namespace}/workflows`,
      (type, obj) => this.terminal.onEvent(type, obj),
      `${BENCH_LABEL}=${this.label}`,
    );
    r.stopWatch = watch.stop;
    r.env.log(`${this.name}: controller pid ${proc.pid}, ${controllerArgs(this.profile, '…', namespace).join(' ')}`);
    const ms = await warmUp(kc, namespace, proc, (pod) => this.submitPod(pod));
    await assertLoopbackOnly('workflow-controller', proc.pid);
    this.terminal.clear();
    r.env.log(`${this.name}: warm-up Workflow Succeeded in ${ms} ms`);
  }

  private async submitPod(pod: StepSpec['pod']): Promise<{ readonly podName: string }> {
    const r = this.need();
    const body = workflowFor(pod, r.env.namespace, this.label);
    const api = r.env.kubeConfig.makeApiClient(CustomObjectsApi);
    try {
      await api.createNamespacedCustomObject({ ...GROUP, namespace: r.env.namespace, body });
    } catch (error) {
      throw submitError(body.metadata.name, error);
    }
    return { podName: body.metadata.name };
  }

  submit(step: StepSpec): Promise<{ readonly podName: string }> {
    return this.submitPod(step.pod);
  }

  terminalRecordAt(step: StepSpec): Promise<number | undefined> {
    return this.terminal.at(step.pod.metadata?.name ?? '');
  }

  /** Argo's own record of a refusal after acceptance: the Workflow's status message (e.g. the pod's admission error). */
  async denial(step: StepSpec): Promise<string | undefined> {
    const { kubeConfig: kc, namespace } = this.need().env;
    const name = step.pod.metadata?.name ?? '';
    const wf = (await kc
      .makeApiClient(CustomObjectsApi)
      .getNamespacedCustomObject({ ...GROUP, namespace, name })
      .catch(() => undefined)) as { status?: { phase?: string; message?: string } } | undefined;
    const message = wf?.status?.message;
    return message === undefined || message === '' ? undefined : `${wf?.status?.phase ?? ''}: ${message}`;
  }

  async reset(): Promise<void> {
    const { kubeConfig: kc, namespace } = this.need().env;
    await kc.makeApiClient(CustomObjectsApi).deleteCollectionNamespacedCustomObject({
      ...GROUP,
      namespace,
      labelSelector: `${BENCH_LABEL}=${this.label}`,
    });
    const core = kc.makeApiClient(CoreV1Api);
    const selector = 'workflows.argoproj.io/workflow';
    await core.deleteCollectionNamespacedPod({ namespace, labelSelector: selector, gracePeriodSeconds: 0 });
    for (let i = 0; i < 300; i++) {
      const left = await core.listNamespacedPod({ namespace, labelSelector: selector, limit: 1 });
      if (left.items.length === 0) break;
      await sleep(200);
    }
    this.terminal.clear();
  }

  pids(): readonly number[] {
    const pid = this.running?.proc?.pid;
    return pid === undefined ? [] : [pid];
  }

  async stop(): Promise<void> {
    const r = this.running;
    if (r === undefined) return;
    this.running = undefined;
    r.stopWatch?.();
    if (r.proc !== undefined) await stopPid(r.proc.pid);
    const objects = r.env.kubeConfig.makeApiClient(KubernetesObjectApi);
    for (const o of [...r.guard].reverse()) await objects.delete(o).catch(() => undefined);
    await releaseShared(r.env.kubeConfig);
  }

  private need(): Running {
    if (this.running === undefined) throw new Error(`${this.name}: not started`);
    return this.running;
  }
}

/** The two Argo rows: code defaults, and tuned (argo/manifest.ts DEFAULTS, TUNED). */
export function argoRows(): PeerRow[] {
  return [new ArgoRow(DEFAULTS), new ArgoRow(TUNED)];
}
