import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import { readAuditLog, checkAuditDir } from '../adapters/audit-files.ts';
import { buildBundle } from '../adapters/opa-cli.ts';
import { REPO_ROOT, resolveTools } from '../adapters/tools.ts';
import { startRunner } from '../app/runner.ts';
import { parseConfig } from '../config/load.ts';
import { runAssignment } from '../app/assignment.ts';
import type { AssignmentReport } from '../run/report.ts';
import { startCluster } from './cluster.ts';
import { localRunnerConfig } from './local-config.ts';
import { failingStep, realStorage, selfReportWorkflow, startDemoNode } from './node/demo-real.ts';
import type { RealNode } from './node/node.ts';
import { jwks, newSigningKey, signAssignment } from './sign.ts';
import { readWorkflowFile } from './workflow-file.ts';

export interface DemoResult {
  readonly ok: boolean;
  readonly cases: readonly { readonly title: string; readonly expected: string; readonly report: AssignmentReport }[];
  readonly auditDir: string;
}

type Say = (line: string) => void;
type Paint = (colour: 'red' | 'green' | 'yellow' | 'dim' | 'bold', text: string) => string;

const STATUS_COLOUR = {
  succeeded: 'green',
  denied: 'yellow',
  rejected: 'yellow',
  failed: 'red',
  error: 'red',
  skipped: 'dim',
} as const;

/**
 * The main job: the local control plane, a runner wired to it, and a few signed assignments —
 * allowed, denied by policy, forged, failing — each reported with its audit trail.
 */
export async function runDemo(
  say: Say,
  paint: Paint = (_c, t) => t,
  workDir = join(REPO_ROOT, '.kubiya', 'demo'),
  realNode = false,
): Promise<DemoResult> {
  const tools = resolveTools([
    'etcd',
    'kube-apiserver',
    'kube-scheduler',
    'kube-controller-manager',
    'kwok',
    'opa',
    'helm',
  ]);
  if (!tools.ok) throw new Error(tools.error.message);
  await rm(workDir, { recursive: true, force: true });
  await mkdir(workDir, { recursive: true });

  say('building the policy bundle (opa build -t wasm) ...');
  const bundle = await buildBundle(tools.value.opa, join(REPO_ROOT, 'policies'), join(workDir, 'bundle.tar.gz'));
  say(`  revision ${bundle.revision}`);

  say('starting the local control plane (etcd, kube-apiserver, scheduler, controller-manager, kwok) ...');
  const cluster = await startCluster({ tools: tools.value });
  say(`  ready in ${(cluster.startedMs / 1000).toFixed(1)} s at ${cluster.server}`);
  let node: RealNode | undefined;
  try {
    if (realNode) node = await startDemoNode(cluster, workDir, say);
  } catch (e) {
    await cluster.stop();
    throw e;
  }
  const issuer = 'https://control-plane.kubiya.local';
  const key = await newSigningKey();
  const stranger = await newSigningKey();
  const auditDir = join(workDir, 'audit');
  const signing = generateKeyPairSync('ed25519');
  const publicKeyFile = join(workDir, 'audit-signing.pub.pem');
  await writeFile(publicKeyFile, signing.publicKey.export({ type: 'spki', format: 'pem' }));
  const signingKeyFile = join(workDir, 'audit-signing.key.pem');
  await writeFile(signingKeyFile, signing.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  const jwksFile = join(workDir, 'jwks.json');
  await writeFile(jwksFile, JSON.stringify(jwks([key])));
  // Parsed by the schema like serve's config: the demo runs with the defaults production has.
  const input = localRunnerConfig(cluster, {
    name: 'demo-runner',
    issuer,
    jwksFile,
    bundle: bundle.file,
    auditDir,
    signingKeyFile,
  });
  const config = parseConfig(node !== undefined ? realStorage(input) : input);
  if (!config.ok) throw new Error(config.error.message);
  const runner = await startRunner(config.value);
  let closed = false;
  try {
    const ex = (f: string): string => join(REPO_ROOT, 'examples', f);
    const analyze = await readWorkflowFile(ex('python-analyze.yaml'));
    const build = await readWorkflowFile(ex('node-build.yaml'));
    const [buildStep] = build.steps as Record<string, unknown>[];
    const failing = {
      ...build,
      id: 'build-fails',
      steps: [node !== undefined ? failingStep(buildStep ?? {}) : { ...buildStep, env: { KWOK_EXIT_CODE: '3' } }],
    };
    const sign = (wf: { id: string } & Record<string, unknown>, k = key) =>
      signAssignment(k, { issuer, audience: 'demo-runner', workflow: wf });
    const cases = [
      { title: 'python analyze (examples/python-analyze.yaml)', expected: 'succeeded', token: await sign(analyze) },
      {
        title: 'trivy scan as the seed writes it, :latest (examples/denied/trivy-latest.yaml)',
        expected: 'denied',
        token: await sign(await readWorkflowFile(ex('denied/trivy-latest.yaml'))),
      },
      {
        title: 'python analyze signed by an unknown key',
        expected: 'rejected',
        token: await sign({ ...analyze, id: 'forged' }, stranger),
      },
      {
        title: `node build whose container exits 3 (${node !== undefined ? 'for real' : 'simulated by kwok'})`,
        expected: 'failed',
        token: await sign(failing),
      },
      ...(node !== undefined
        ? [
            {
              title: 'a step that reports what the kernel enforces on it (real node)',
              expected: 'succeeded',
              token: await sign(selfReportWorkflow()),
            },
          ]
        : []),
    ];
    const results = [];
    for (const c of cases) {
      say(`\n${paint('bold', `▶ ${c.title}`)}`);
      const report = await runAssignment(
        { body: c.token, contentType: 'application/jwt' },
        runner.deps,
        runner.reconciler,
      );
      const status = !report.accepted
        ? 'rejected'
        : (report.steps.find((s) => s.status !== 'succeeded')?.status ?? 'succeeded');
      if (!report.accepted) say(`  ${paint('yellow', 'rejected')}: ${report.code ?? ''} — ${report.message}`);
      for (const s of report.steps) {
        say(
          `  step ${s.step}: ${paint(STATUS_COLOUR[s.status], s.status)}${s.code !== undefined ? ` ${s.code}` : ''}${s.pod !== undefined ? ` pod=${s.pod}` : ''}${s.exitCode !== undefined ? ` exit=${s.exitCode}` : ''}`,
        );
        if (s.status !== 'succeeded') say(`    ${s.message}`);
        if (node !== undefined && s.pod !== undefined) {
          const log = await runner.deps.logs.read(s.pod, 'step', 4096);
          if (log.ok) for (const l of log.value.trimEnd().split('\n')) say(`    ${paint('dim', '│')} ${l}`);
        }
      }
      say(`  expected ${c.expected}, got ${paint(status === c.expected ? 'green' : 'red', status)}`);
      results.push({ title: c.title, expected: c.expected, report, status });
    }
    await runner.close();
    closed = true;
    const records = await readAuditLog(auditDir);
    say(`\naudit log ${auditDir} (${records.length} records):`);
    for (const r of records) {
      say(
        `  #${String(r.seq).padStart(2)} ${r.stage.padEnd(8)} ${r.outcome.padEnd(7)} ${(r.code ?? '').padEnd(22)} ${r.workflow?.id ?? '-'}${r.step !== undefined ? `/${r.step}` : ''}  ${r.message}`,
      );
    }
    const report = await checkAuditDir(auditDir, signing.publicKey);
    say(
      report.ok
        ? `audit verify: chain intact (${report.records} records), ${report.checkpoints.verified} signed checkpoint(s) verified`
        : `audit verify: BROKEN at seq ${report.firstBad?.seq ?? '?'}: ${report.firstBad?.reason ?? ''}`,
    );
    say(`  check it yourself: npx kubiya-runner audit verify ${auditDir} --public-key ${publicKeyFile}`);
    const ok = report.ok && results.every((r) => r.status === r.expected);
    return { ok, cases: results, auditDir };
  } finally {
    if (!closed) await runner.close();
    const left = await node?.stop();
    if (left !== undefined)
      say(left.length === 0 ? 'real node stopped, host restored' : `real node: ${left.join('; ')}`);
    await cluster.stop();
    say('local control plane stopped');
  }
}
