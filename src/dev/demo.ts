import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { KeyObject } from 'node:crypto';
import { readAuditLog, checkAuditDir } from '../adapters/audit-files.ts';
import { buildBundle } from '../adapters/bundle-build.ts';
import { LOCAL_STACK_TOOLS, REPO_ROOT, resolveTools } from '../adapters/tools.ts';
import { startRunner } from '../app/runner.ts';
import type { AssignmentReport } from '../run/report.ts';
import { startCluster, type Cluster } from './cluster.ts';
import type { ClusterTools } from './cluster-components.ts';
import { demoCases, runCase, type CaseResult, type Paint, type Say } from './demo-cases.ts';
import { demoConfig, writeDemoKeys } from './demo-setup.ts';
import { demoNodeTools, startDemoNode } from './node/demo-real.ts';
import { clearNodeBeforeRemoving } from './node/left.ts';
import type { RealNode, RealNodeOptions } from './node/node.ts';

export interface DemoResult {
  readonly ok: boolean;
  readonly cases: readonly { readonly title: string; readonly expected: string; readonly report: AssignmentReport }[];
  readonly auditDir: string;
}

/**
 * The main job: the local control plane, a runner wired to it, and a few signed assignments —
 * allowed, denied by policy, forged, failing — each reported with its audit trail. Cases are in
 * src/dev/demo-cases.ts, keys and configuration in src/dev/demo-setup.ts. Throws when a tool is
 * missing or the cluster, node or runner cannot start; `ok` says whether every case ended as
 * expected and the audit chain verified.
 */
export async function runDemo(
  say: Say,
  paint: Paint = (_c, t) => t,
  workDir = join(REPO_ROOT, '.kubiya', 'demo'),
  realNode = false,
): Promise<DemoResult> {
  const tools = resolveTools(LOCAL_STACK_TOOLS);
  if (!tools.ok) throw new Error(tools.error.message);
  const nodeTools = realNode ? demoNodeTools(say) : undefined;
  // A real node left in the work dir is cleared (or refused) before the dir is removed: finding 3.
  await clearNodeBeforeRemoving(workDir, nodeTools, say);
  await rm(workDir, { recursive: true, force: true });
  await mkdir(workDir, { recursive: true });
  say('building the policy bundle (opa build -t wasm) ...');
  const bundle = await buildBundle(tools.value.opa, join(REPO_ROOT, 'policies'), join(workDir, 'bundle.tar.gz'));
  say(`  revision ${bundle.revision}`);
  const cluster = await startDemoCluster(tools.value, say);
  const node = nodeTools !== undefined ? await startNodeOrStop(cluster, workDir, nodeTools, say) : undefined;
  const keys = await writeDemoKeys(workDir);
  const runner = await startRunner(demoConfig(cluster, keys, bundle.file, node !== undefined));
  let closed = false;
  try {
    const results: CaseResult[] = [];
    for (const c of await demoCases(keys, node !== undefined))
      results.push(await runCase(c, runner, node !== undefined, say, paint));
    await runner.close();
    closed = true;
    const chainOk = await sayAudit(keys.auditDir, keys.auditPublicKey, keys.publicKeyFile, say);
    const ok = chainOk && results.every((r) => r.status === r.expected);
    return { ok, cases: results, auditDir: keys.auditDir };
  } finally {
    if (!closed) await runner.close();
    await stopDemo(cluster, node, say);
  }
}

async function startDemoCluster(tools: ClusterTools, say: Say): Promise<Cluster> {
  say('starting the local control plane (etcd, kube-apiserver, scheduler, controller-manager, kwok) ...');
  const cluster = await startCluster({ tools });
  say(`  ready in ${(cluster.startedMs / 1000).toFixed(1)} s at ${cluster.server}`);
  return cluster;
}

/** The real node for the demo; when it cannot start, the cluster is stopped before the error is thrown. */
async function startNodeOrStop(
  cluster: Cluster,
  workDir: string,
  tools: RealNodeOptions['tools'],
  say: Say,
): Promise<RealNode> {
  try {
    return await startDemoNode(cluster, workDir, tools, say);
  } catch (e) {
    await cluster.stop();
    throw e;
  }
}

/** Prints every audit record and the chain and checkpoint check; true when the chain is intact. */
async function sayAudit(auditDir: string, publicKey: KeyObject, publicKeyFile: string, say: Say): Promise<boolean> {
  const records = await readAuditLog(auditDir);
  say(`\naudit log ${auditDir} (${records.length} records):`);
  for (const r of records) {
    say(
      `  #${String(r.seq).padStart(2)} ${r.stage.padEnd(8)} ${r.outcome.padEnd(7)} ${(r.code ?? '').padEnd(22)} ${r.workflow?.id ?? '-'}${r.step !== undefined ? `/${r.step}` : ''}  ${r.message}`,
    );
  }
  const report = await checkAuditDir(auditDir, publicKey);
  say(
    report.ok
      ? `audit verify: chain intact (${report.records} records), ${report.checkpoints.verified} signed checkpoint(s) verified`
      : `audit verify: BROKEN at seq ${report.firstBad?.seq ?? '?'}: ${report.firstBad?.reason ?? ''}`,
  );
  say(`  check it yourself: npx kubiya-runner audit verify ${auditDir} --public-key ${publicKeyFile}`);
  return report.ok;
}

/** Stops the real node (printing whether the host was restored), then the cluster. */
async function stopDemo(cluster: Cluster, node: RealNode | undefined, say: Say): Promise<void> {
  const left = await node?.stop();
  if (left !== undefined) say(left.length === 0 ? 'real node stopped, host restored' : `real node: ${left.join('; ')}`);
  await cluster.stop();
  say('local control plane stopped');
}
