import { spawnSync } from 'node:child_process';
import { REPO_ROOT, resolveTools } from '../../adapters/tools.ts';
import type { Cluster } from '../cluster.ts';
import { STEP_IMAGE } from './catalogue.ts';
import { startRealNode, type RealNode, type RealNodeOptions } from './node.ts';
import { realNodeMissing, REAL_NODE_TOOLS } from './prerequisites.ts';
import { join } from 'node:path';
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
