// A process that starts a real node and then waits, never tearing it down: the parent kills it to
// leave a node behind as a run killed mid-test (or a stopped session) does. Run by
// test/node/left-node.test.ts: `node real-node-owner.ts <kubeconfig> <node dir> <workflows namespace>`;
// prints "up" once the node is Ready.
import { resolveTools } from '../../src/adapters/tools.ts';
import { startRealNode } from '../../src/dev/node/node.ts';
import { REAL_NODE_TOOLS } from '../../src/dev/node/prerequisites.ts';

if (import.meta.main) {
  const [kubeconfig, dir, namespace] = process.argv.slice(2);
  if (kubeconfig === undefined || dir === undefined || namespace === undefined)
    throw new Error('usage: real-node-owner.ts <kubeconfig> <node dir> <workflows namespace>');
  const tools = resolveTools(REAL_NODE_TOOLS);
  if (!tools.ok) throw new Error(tools.error.message);
  await startRealNode({ kubeconfig, dir, tools: tools.value, namespaces: [namespace] });
  process.stdout.write('up\n');
  setInterval(() => undefined, 60_000);
}
