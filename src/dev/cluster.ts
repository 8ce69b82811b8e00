import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bootstrapCluster, crdManifests, installCrds } from './bootstrap.ts';
import {
  startApiServer,
  startControllers,
  startEtcd,
  startKwok,
  type ClusterPorts,
  type ClusterTools,
  type ComponentContext,
} from './cluster-components.ts';
import { writeClusterCredentials, writeKubeconfig } from './cluster-files.ts';
import { whenThisProcessEnds } from '../adapters/exit-cleanup.ts';
import { clearLeftClusterDirs, CLUSTER_TEMP_PREFIX } from './left-dirs.ts';
import { CRD_ONLY_ARGS, renderChart } from './manifest.ts';
import { freePort } from './ports.ts';
import { runsAs, signallable, stopPid, type Started } from './processes.ts';

export interface ClusterOptions {
  readonly tools: ClusterTools;
  /** Working directory; a fresh temp dir when omitted (removed on stop). */
  readonly dir?: string;
  /** Detach processes (for `dev cluster up`, stopped later by `dev cluster down`). */
  readonly detached?: boolean;
  readonly workflowsNamespace?: string;
  readonly runnerNamespace?: string;
  /** Number of fake kwok nodes. */
  readonly nodes?: number;
  /** Install the WorkflowRun CRD (default true; the Helm test installs it through the chart). */
  readonly crds?: boolean;
  /**
   * Called synchronously right after each process is spawned, with every process started so far
   * (`dev cluster up` records them before anything else happens, so a kill at any point leaves a
   * record of what runs).
   */
  readonly onStarted?: (started: readonly Started[]) => void;
}

export interface ClusterState {
  readonly dir: string;
  readonly kubeconfig: string;
  readonly server: string;
  readonly workflowsNamespace: string;
  readonly runnerNamespace: string;
  /** Each process with its start ticks (/proc/<pid>/stat field 22; absent in states written before they were recorded). */
  readonly pids: readonly { readonly name: string; readonly pid: number; readonly startTicks?: string }[];
  readonly startedMs: number;
}

export interface Cluster extends ClusterState {
  stop(): Promise<void>;
}

/**
 * Starts etcd + kube-apiserver (PodSecurity admission on by default, self-generated serving
 * certificate, static bearer token) + kube-scheduler + kube-controller-manager (garbage collector,
 * namespaces, service accounts) + kwok (fake nodes, pod lifecycle from src/dev/kwok/stages.yaml),
 * all on loopback with random ports; writes a kubeconfig and creates the namespaces of the seed.
 * On any failure what was started is stopped again (and an owned directory removed) before it throws.
 */
export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const t0 = performance.now();
  if (options.dir === undefined) clearLeftClusterDirs();
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), CLUSTER_TEMP_PREFIX)));
  const ctx: ComponentContext = {
    tools: options.tools,
    dir,
    detached: options.detached ?? false,
    started: [],
    ...(options.onStarted !== undefined ? { onStarted: options.onStarted } : {}),
  };
  const stop = stopper(ctx, options.dir === undefined);
  try {
    const state = await startComponents(ctx, options);
    return { ...state, startedMs: performance.now() - t0, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** The components in dependency order: etcd, API server, kubeconfig, CRDs, controllers, kwok, then the namespaces. */
async function startComponents(
  ctx: ComponentContext,
  options: ClusterOptions,
): Promise<Omit<ClusterState, 'startedMs'>> {
  const ports: ClusterPorts = {
    etcd: await freePort(),
    peer: await freePort(),
    api: await freePort(),
    kwok: await freePort(),
  };
  const token = await writeClusterCredentials(ctx.dir);
  await startEtcd(ctx, ports);
  const { server, ca } = await startApiServer(ctx, ports, token);
  const kubeconfig = await writeKubeconfig(ctx.dir, server, ca, token);
  // CRDs first: the controller-manager's garbage collector then knows WorkflowRuns from its start.
  if (options.crds ?? true) {
    const crd = await renderChart(options.tools.helm, CRD_ONLY_ARGS);
    await installCrds(kubeconfig, crdManifests(crd, 'templates/crd-workflowrun.yaml'));
  }
  startControllers(ctx, kubeconfig);
  await startKwok(ctx, kubeconfig, ports.kwok);
  const workflowsNamespace = options.workflowsNamespace ?? 'kubiya-workflows';
  const runnerNamespace = options.runnerNamespace ?? 'kubiya';
  await bootstrapCluster(kubeconfig, { workflowsNamespace, runnerNamespace, nodes: options.nodes ?? 2 });
  const pids = ctx.started.map((p) => ({ name: p.name, pid: p.pid, startTicks: p.startTicks }));
  return { dir: ctx.dir, kubeconfig, server, workflowsNamespace, runnerNamespace, pids };
}

/**
 * The cluster's stop: its processes in reverse start order, then an owned directory. An attached
 * cluster never outlives its process: if the process ends without stop() (exit, or SIGTERM, SIGINT,
 * SIGHUP nobody else handles: exit-cleanup.ts), its children are killed and an owned directory
 * removed synchronously; on SIGKILL its children die by their parent-death signal (startProcess).
 */
function stopper(ctx: ComponentContext, ownsDir: boolean): () => Promise<void> {
  const forget = ctx.detached
    ? () => undefined
    : whenThisProcessEnds(() => killAll(ctx.started, ownsDir ? ctx.dir : undefined));
  return async () => {
    forget();
    for (const p of [...ctx.started].reverse()) await stopPid(p.pid, 5000, ctx.detached);
    if (ownsDir) await rm(ctx.dir, { recursive: true, force: true });
  };
}

function killAll(started: readonly Started[], ownedDir: string | undefined): void {
  for (const p of started) {
    if (!signallable(p.pid)) continue;
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  if (ownedDir !== undefined) rmSync(ownedDir, { recursive: true, force: true });
}

/**
 * Stops a cluster started detached by another process (from its saved state): only a PID that still
 * runs as this cluster's (its directory on the command line on a path boundary, and its recorded
 * start ticks), never a recycled one. Returns the names and PIDs of processes that would not die.
 */
export async function stopClusterState(
  state: Pick<ClusterState, 'dir' | 'pids'>,
  removeDir: boolean,
): Promise<string[]> {
  const stuck: string[] = [];
  for (const p of [...state.pids].reverse())
    if (runsAs(p.pid, [state.dir], p.startTicks) && !(await stopPid(p.pid, 5000, true)))
      stuck.push(`${p.name} (PID ${String(p.pid)})`);
  if (removeDir) await rm(state.dir, { recursive: true, force: true });
  return stuck;
}
