import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveTools } from '../../src/adapters/tools.ts';
import { startRealNode, type RealNode } from '../../src/dev/node/node.ts';
import { realNodeMissing, REAL_NODE_TOOLS } from '../../src/dev/node/prerequisites.ts';
import { testCluster, type TestCluster } from './cluster.ts';

/** Set by .ci/run: the real-node tier must run there, so a missing prerequisite fails instead of skipping. */
export const REQUIRE_ENV = 'KUBIYA_REQUIRE_REAL_NODE';

/**
 * Why the real-node tier cannot run here (printed, and the tier skipped), or undefined when it can.
 * With KUBIYA_REQUIRE_REAL_NODE=1 (CI) a missing prerequisite throws instead: the tier is required.
 */
export function realNodeSkip(): string | undefined {
  const missing = realNodeMissing();
  if (missing.length === 0) return undefined;
  const why = `real-node tier skipped: ${missing.join('; ')}`;
  if (process.env[REQUIRE_ENV] === '1') throw new Error(`${REQUIRE_ENV}=1 but ${why}`);
  console.log(why);
  return why;
}

export interface RealNodeEnv {
  readonly env: TestCluster;
  readonly node: RealNode;
  close(): Promise<string[]>;
}

/** A local control plane with a real node whose placement covers its workflows namespace. */
export async function realNodeCluster(o: { egressGate?: boolean } = {}): Promise<RealNodeEnv> {
  const tools = resolveTools(REAL_NODE_TOOLS);
  if (!tools.ok) throw new Error(tools.error.message);
  const env = await testCluster();
  const dir = await mkdtemp(join(tmpdir(), 'kubiya-node-'));
  let node: RealNode;
  try {
    node = await startRealNode({
      kubeconfig: env.cluster.kubeconfig,
      dir,
      tools: tools.value,
      namespaces: [env.cluster.workflowsNamespace],
      ...(o.egressGate !== undefined ? { egressGate: o.egressGate } : {}),
    });
  } catch (e) {
    await env.close();
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    env,
    node,
    close: async () => {
      const left = await node.stop();
      await env.close();
      return left;
    },
  };
}
