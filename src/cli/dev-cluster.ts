import { Command } from 'commander';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO_ROOT, resolveTools } from '../adapters/tools.ts';
import { startCluster, stopClusterState, type Cluster, type ClusterState } from '../dev/cluster.ts';
import type { ClusterTools } from '../dev/cluster-components.ts';
import { startRealNode } from '../dev/node/node.ts';
import type { RealNodeState } from '../dev/node/state.ts';
import { stopRealNodeState } from '../dev/node/node-down.ts';
import { nodeLeft } from '../dev/node/owned.ts';
import { runsAs } from '../dev/processes.ts';
import { realNodeMissing, REAL_NODE_TOOLS } from '../dev/node/prerequisites.ts';
import { CliError, type Io } from './io.ts';
import { examples, outputOption } from './options.ts';

const DEFAULT_DIR = join(REPO_ROOT, '.kubiya', 'cluster');
const stateFile = (dir: string): string => join(dir, 'state.json');
const CLUSTER_TOOLS = ['etcd', 'kube-apiserver', 'kube-scheduler', 'kube-controller-manager', 'kwok', 'helm'] as const;

type UpState = ClusterState & { readonly realNode?: RealNodeState };
interface UpOptions {
  readonly output: string;
  readonly dir: string;
  readonly realNode?: boolean;
}

async function readState(dir: string): Promise<UpState | undefined> {
  try {
    return JSON.parse(await readFile(stateFile(dir), 'utf8')) as UpState;
  } catch {
    return undefined;
  }
}

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** `dev cluster up|down`: a local control plane in the background, its state in `<dir>/state.json`. */
export function clusterCommand(io: Io): Command {
  const cluster = new Command('cluster').description('a local Kubernetes control plane: etcd + kube-apiserver + kwok');
  cluster
    .command('up')
    .description('start it in the background; writes <dir>/kubeconfig')
    .option('--dir <dir>', 'where its data, logs, kubeconfig and state live', DEFAULT_DIR)
    .option('--real-node', 'also start a real node (containerd + kubelet, root only; see docs/real-node.md)')
    .addOption(outputOption())
    .addHelpText(
      'after',
      examples(
        'kubiya-runner dev cluster up',
        'export KUBECONFIG=$(kubiya-runner dev cluster up --output json | jq -r .kubeconfig)',
        'sudo kubiya-runner dev cluster up --real-node   # workflow steps then run for real',
      ),
    )
    .action((opts: UpOptions) => clusterUp(io, opts));
  cluster
    .command('down')
    .description('stop the local control plane and remove its files')
    .option('--dir <dir>', 'the directory given to "up"', DEFAULT_DIR)
    .addHelpText('after', examples('kubiya-runner dev cluster down'))
    .action((opts: { dir: string }) => clusterDown(io, opts.dir));
  return cluster;
}

/** `up`: refuse a second one, check the tools, start the cluster (and the real node), record and print it. */
async function clusterUp(io: Io, opts: UpOptions): Promise<void> {
  const tools = await preflight(io, opts);
  io.err('starting etcd, kube-apiserver, kube-scheduler, kube-controller-manager and kwok ...');
  await rm(opts.dir, { recursive: true, force: true });
  await mkdir(opts.dir, { recursive: true });
  const c = await startLocalCluster(tools, opts.dir);
  const realNode = opts.realNode === true ? await startNodeFor(io, c, opts.dir) : undefined;
  const state: UpState = {
    dir: c.dir,
    kubeconfig: c.kubeconfig,
    server: c.server,
    workflowsNamespace: c.workflowsNamespace,
    runnerNamespace: c.runnerNamespace,
    pids: c.pids,
    startedMs: c.startedMs,
    ...(realNode !== undefined ? { realNode } : {}),
  };
  await writeFile(stateFile(opts.dir), JSON.stringify(state, null, 2));
  io.out(opts.output === 'json' ? JSON.stringify(state) : upSummary(c, realNode));
}

/**
 * Whether anything of a recorded control plane still runs as its own: one of its processes (its
 * directory on the command line, so a recycled PID does not count) or its real node (node/owned.ts).
 */
function stillUp(state: UpState): boolean {
  return (
    state.pids.some((p) => runsAs(p.pid, [state.dir])) || (state.realNode !== undefined && !nodeLeft(state.realNode))
  );
}

/**
 * Fails before anything starts: one already up, a missing pinned tool, or no real node possible here.
 * A control plane left by a run that ended without `down` (killed, crashed, a stopped session:
 * nothing of it runs) is cleared first, as `down` would, instead of blocking every later `up`.
 */
async function preflight(io: Io, opts: UpOptions): Promise<ClusterTools> {
  const left = await readState(opts.dir);
  if (left !== undefined && stillUp(left))
    throw new CliError(
      'CLUSTER_START_FAILED',
      'a local control plane is already up (run "kubiya-runner dev cluster down" first)',
    );
  if (left !== undefined) {
    io.err(`a local control plane left by a run that ended without "down" (${opts.dir}): clearing it first`);
    await stopState(io, left);
  }
  const tools = resolveTools(CLUSTER_TOOLS);
  if (!tools.ok) throw new CliError(tools.error.code, tools.error.message);
  const missing = opts.realNode === true ? realNodeMissing() : [];
  if (missing.length > 0) throw new CliError('REAL_NODE_UNAVAILABLE', `no real node here:\n  ${missing.join('\n  ')}`);
  return tools.value;
}

async function startLocalCluster(tools: ClusterTools, dir: string): Promise<Cluster> {
  try {
    return await startCluster({ tools, dir, detached: true });
  } catch (e) {
    throw new CliError('CLUSTER_START_FAILED', `${message(e)}\nlogs are kept in ${dir}`, 1);
  }
}

/** The real node for the cluster's workflows namespace; on failure the cluster is stopped again. */
async function startNodeFor(io: Io, c: Cluster, dir: string): Promise<RealNodeState> {
  const nodeTools = resolveTools(REAL_NODE_TOOLS);
  if (!nodeTools.ok) throw new CliError(nodeTools.error.code, nodeTools.error.message);
  try {
    const n = await startRealNode({
      kubeconfig: c.kubeconfig,
      dir: join(dir, 'node'),
      tools: nodeTools.value,
      namespaces: [c.workflowsNamespace],
      detached: true,
      say: (l) => io.err(l),
    });
    return { dir: n.dir, kubeconfig: n.kubeconfig, tools: n.tools, pids: n.pids, timings: n.timings };
  } catch (e) {
    await stopClusterState(c, false);
    throw new CliError('REAL_NODE_UNAVAILABLE', `${message(e)}\nlogs are kept in ${dir}`, 1);
  }
}

function upSummary(c: Cluster, realNode: RealNodeState | undefined): string {
  const node =
    realNode !== undefined
      ? `\n  real node  ready in ${String(realNode.timings.total)} s; pods in ${c.workflowsNamespace} run on it`
      : '';
  return `local control plane ready in ${(c.startedMs / 1000).toFixed(1)} s\n  server     ${c.server}\n  kubeconfig ${c.kubeconfig}\n  export KUBECONFIG=${c.kubeconfig}${node}`;
}

/** `down`: stop the real node (reporting host differences), then the cluster, and remove its files. */
async function clusterDown(io: Io, dir: string): Promise<void> {
  const state = await readState(dir);
  if (state === undefined) {
    io.out('no local control plane is up');
    return;
  }
  await stopState(io, state);
  await rm(dir, { recursive: true, force: true });
  io.out('local control plane stopped and removed');
}

/** Stops a recorded control plane: its real node first (reporting host differences on stderr), then its processes. */
async function stopState(io: Io, state: UpState): Promise<void> {
  if (state.realNode !== undefined) {
    const left = await stopRealNodeState(state.realNode);
    for (const l of left) io.err(`real node: host differs from before: ${l}`);
    io.err(left.length === 0 ? 'real node stopped; host restored' : 'real node stopped; see the differences above');
  }
  await stopClusterState(state, false);
}
