import { Command } from 'commander';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO_ROOT, resolveTools } from '../adapters/tools.ts';
import { startCluster, stopClusterState, type ClusterState } from '../dev/cluster.ts';
import { EXIT, type Io } from './io.ts';

const STATE_DIR = join(REPO_ROOT, '.kubiya', 'cluster');
const STATE_FILE = join(STATE_DIR, 'state.json');

async function readState(): Promise<ClusterState | undefined> {
  try {
    return JSON.parse(await readFile(STATE_FILE, 'utf8')) as ClusterState;
  } catch {
    return undefined;
  }
}

export function devCommands(io: Io, setCode: (c: number) => void): Command {
  const dev = new Command('dev').description('local development: control plane, signing');
  const cluster = new Command('cluster').description('a local Kubernetes control plane: etcd + kube-apiserver + kwok');
  cluster
    .command('up')
    .description('start it in the background; writes .kubiya/cluster/kubeconfig')
    .option('--output <format>', 'text or json', 'text')
    .action(async (opts: { output: string }) => {
      if ((await readState()) !== undefined) {
        io.err('a local control plane is already up (run "kubiya-runner dev cluster down" first)');
        setCode(EXIT.usage);
        return;
      }
      const tools = resolveTools(['etcd', 'kube-apiserver', 'kube-scheduler', 'kube-controller-manager', 'kwok']);
      if (!tools.ok) {
        io.err(`${tools.error.code}: ${tools.error.message}`);
        setCode(EXIT.usage);
        return;
      }
      await rm(STATE_DIR, { recursive: true, force: true });
      await mkdir(STATE_DIR, { recursive: true });
      const c = await startCluster({ tools: tools.value, dir: STATE_DIR, detached: true });
      const state: ClusterState = { dir: c.dir, kubeconfig: c.kubeconfig, server: c.server, workflowsNamespace: c.workflowsNamespace, runnerNamespace: c.runnerNamespace, pids: c.pids, startedMs: c.startedMs };
      await writeFile(STATE_FILE, JSON.stringify(state, null, 2));
      io.out(opts.output === 'json' ? JSON.stringify(state) : `local control plane ready in ${(c.startedMs / 1000).toFixed(1)} s\n  server     ${c.server}\n  kubeconfig ${c.kubeconfig}\n  export KUBECONFIG=${c.kubeconfig}`);
    });
  cluster
    .command('down')
    .description('stop the local control plane and remove its files')
    .action(async () => {
      const state = await readState();
      if (state === undefined) {
        io.out('no local control plane is up');
        return;
      }
      await stopClusterState(state, false);
      await rm(STATE_DIR, { recursive: true, force: true });
      io.out('local control plane stopped and removed');
    });
  dev.addCommand(cluster);
  return dev;
}
