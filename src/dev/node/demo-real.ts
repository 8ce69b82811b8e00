import { spawnSync } from 'node:child_process';
import { REPO_ROOT, resolveTools } from '../../adapters/tools.ts';
import type { Cluster } from '../cluster.ts';
import { STEP_IMAGE } from './catalogue.ts';
import { startRealNode, type RealNode, type RealNodeOptions } from './node.ts';
import { clearLeftRealNode, RealNodeLocked } from './left.ts';
import { LOCK_FILE, parseRecord, readLock } from './lock.ts';
import { realNodeMissing, REAL_NODE_TOOLS } from './prerequisites.ts';
import { isAbsolute, join, relative, resolve } from 'node:path';
import type { ConfigInput } from '../../config/schema.ts';
import { REAL_STORAGE_CLASS } from './objects.ts';

/** The real node's tools, built once when missing, or throws why a real node cannot run here. */
export function demoNodeTools(say: (l: string) => void): RealNodeTools {
  const host = realNodeMissing().filter((why) => !why.startsWith('missing tools'));
  if (host.length > 0) throw new Error(`--real-node cannot run here:\n  ${host.join('\n  ')}`);
  if (!resolveTools(REAL_NODE_TOOLS).ok) {
    say("building the real node's tools once (tools/build.sh --real-node; minutes when cold) ...");
    spawnSync('bash', [join(REPO_ROOT, 'tools', 'build.sh'), '--real-node'], {
      stdio: ['ignore', 'inherit', 'inherit'],
    });
  }
  const tools = resolveTools(REAL_NODE_TOOLS);
  if (!tools.ok) throw new Error(tools.error.message);
  return tools.value;
}

/** Whether `dir` is `root` or lies under it (both resolved; path boundaries, not a prefix). */
function inside(root: string, dir: string): boolean {
  const r = relative(resolve(root), resolve(dir));
  return r === '' || (!r.startsWith('..') && !isAbsolute(r));
}

/**
 * Before a work directory is removed (the demo's, `dev cluster up`'s) (red-team round 5, finding 3: the demo's `rm` ran
 * before the node start could clear a node left in it, and descended into its mounts). With
 * `tools` (--real-node): a left node is cleared first, wherever it lives, and a live one refused —
 * the node start would refuse it anyway, after the work dir was gone. Without: a node whose lock
 * names a directory in the work dir is refused (this demo cannot clear it, and must not delete it).
 */
export async function clearNodeBeforeRemoving(
  workDir: string,
  tools: RealNodeTools | undefined,
  say: (l: string) => void,
  path = LOCK_FILE,
): Promise<void> {
  if (tools !== undefined) {
    const live = await clearLeftRealNode(tools, say, path);
    if (live !== undefined)
      throw new RealNodeLocked(`a real node is already up on this machine (${live.dir}); stop it first`);
    return;
  }
  const text = await readLock(path);
  if (text === undefined) return;
  const record = parseRecord(text);
  const dir = typeof record === 'object' ? record.dir : text.trim();
  if (inside(workDir, dir))
    throw new RealNodeLocked(
      `a real node recorded in ${path} lives in the demo's directory (${dir}): rerun with --real-node (as root) to clear it first, or stop it`,
    );
}

/** Starts the demo's real node for the cluster's workflows namespace, or throws why it cannot. */
export async function startDemoNode(
  cluster: Cluster,
  workDir: string,
  tools: RealNodeTools,
  say: (l: string) => void,
): Promise<RealNode> {
  say('starting a real node (containerd, kubelet, kube-proxy, kube-router, CoreDNS) ...');
  const node = await startRealNode({
    kubeconfig: cluster.kubeconfig,
    dir: join(workDir, 'node'),
    tools,
    namespaces: [cluster.workflowsNamespace],
    say: (l) => say(`  ${l}`),
  });
  say(`  real node ready in ${String(node.timings.total)} s; steps run for real`);
  return node;
}

type RealNodeTools = RealNodeOptions['tools'];

/** The demo's extra real-node case: a step that prints what the kernel says about its own process. */
export function selfReportWorkflow(): { id: string } & Record<string, unknown> {
  return {
    id: 'self-report',
    name: 'Report what the kernel enforces on the step',
    runId: 'run-self-report',
    steps: [
      {
        name: 'self',
        image: STEP_IMAGE,
        command: [
          'sh',
          '-c',
          "id; grep -E '^(CapEff|Seccomp|NoNewPrivs):' /proc/self/status; touch /writable/probe && echo 'root filesystem writable (runner.security.readOnlyRootFilesystem: false)'",
        ],
        resources: { requests: { cpu: '50m', memory: '32Mi' }, limits: { memory: '64Mi' } },
      },
    ],
  };
}

/** The step that fails for real (its container exits 3), in place of kwok's KWOK_EXIT_CODE. */
export function failingStep(step: Record<string, unknown>): Record<string, unknown> {
  return { ...step, command: ['sh', '-c', 'echo "build failed (for the demo)" >&2; exit 3'] };
}

/** A local runner config whose volume claims use the real node's local PVs (hostPath ones ignore fsGroup). */
export function realStorage(config: ConfigInput): ConfigInput {
  return {
    ...config,
    runner: { ...config.runner, storage: { ...config.runner.storage, storageClass: REAL_STORAGE_CLASS } },
  };
}
