import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { createLocalJWKSet } from 'jose';
import { FileAuditLog } from '../../src/adapters/audit-file.ts';
import { buildBundle } from '../../src/adapters/opa-cli.ts';
import { loadEngine, readBundle } from '../../src/adapters/opa-wasm.ts';
import { REPO_ROOT, resolveTools } from '../../src/adapters/tools.ts';
import { defaultPipelineConfig } from '../../src/app/runner.ts';
import { jwks, newSigningKey, signAssignment } from '../../src/dev/sign.ts';
import { readWorkflowFile } from '../../src/dev/workflow-file.ts';
import { runAssignment } from '../../src/app/assignment.ts';
import { Reconciler } from '../../src/reconcile/reconciler.ts';
import { MemoryRuns, MemoryTrustedKeys, memoryCluster } from '../support/memory.ts';

const run = promisify(execFile);
const tools = resolveTools(['opa']);
if (!tools.ok) throw new Error(tools.error.message);
const opa = tools.value.opa;

/** Fenced blocks of a Markdown file, in order, with their info string. */
function blocks(md: string): { info: string; body: string }[] {
  return [...md.matchAll(/^```([^\n]*)\n([\s\S]*?)^```$/gm)].map((m) => ({
    info: (m[1] ?? '').trim(),
    body: m[2] ?? '',
  }));
}

/** Seeds the workspace's .kubiya/demo/audit with real decisions, as `npm run demo` would. */
async function seedAuditLog(ws: string): Promise<void> {
  const { file } = await buildBundle(opa, join(ws, 'policies'), join(ws, 'seed.tar.gz'));
  const engine = await loadEngine(await readBundle(file));
  const key = await newSigningKey();
  const audit = await FileAuditLog.open(join(ws, '.kubiya', 'demo', 'audit'));
  const deps = {
    config: defaultPipelineConfig('docs', 'https://cp'),
    keys: createLocalJWKSet(jwks([key])),
    policy: () => engine,
    audit,
    ...memoryCluster(),
    runs: new MemoryRuns(),
    trust: new MemoryTrustedKeys(),
    now: () => new Date(),
    newId: () => crypto.randomUUID(),
  };
  const R = { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } };
  const workflows = [
    await readWorkflowFile(join(ws, 'examples', 'python-analyze.yaml')),
    await readWorkflowFile(join(ws, 'examples', 'denied', 'trivy-latest.yaml')),
    {
      id: 'internal',
      name: 'internal',
      runId: 'r1',
      steps: [{ name: 'app', image: 'registry.internal.example.com/team/app:1.2', resources: R }],
    },
  ];
  const reconciler = new Reconciler(deps, { isLeader: () => true, workers: 4, resyncMs: 60_000 });
  reconciler.start();
  for (const workflow of workflows) {
    await runAssignment(
      {
        body: await signAssignment(key, { issuer: 'https://cp', audience: 'docs', workflow }),
        contentType: 'application/jwt',
      },
      deps,
      reconciler,
    );
  }
  await reconciler.stop();
  await audit.close();
}

test('docs/policies.md: every command of the walkthrough works as written', async () => {
  const ws = await mkdtemp(join(tmpdir(), 'kubiya-docs-'));
  try {
    await cp(join(REPO_ROOT, 'policies'), join(ws, 'policies'), { recursive: true });
    await cp(join(REPO_ROOT, 'examples'), join(ws, 'examples'), { recursive: true });
    await seedAuditLog(ws);
    await rm('/tmp/candidate.tar.gz', { force: true });
    const cli = `node ${join(REPO_ROOT, 'bin', 'kubiya-runner.js')}`;
    const env = {
      ...process.env,
      PATH: `${join(REPO_ROOT, 'node_modules', '.bin')}:${process.env.PATH ?? ''}`,
      NO_COLOR: '1',
    };
    const outputs: { command: string; code: number; stdout: string }[] = [];
    const md = await readFile(join(REPO_ROOT, 'docs', 'policies.md'), 'utf8');
    for (const block of blocks(md)) {
      const file = /^rego file=(\S+)$/.exec(block.info)?.[1];
      if (file !== undefined) {
        await mkdir(dirname(join(ws, file)), { recursive: true });
        await writeFile(join(ws, file), block.body);
        continue;
      }
      if (block.info !== 'sh') continue; // "sh cluster" blocks need a cluster and kubectl
      for (const line of block.body.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'))) {
        const command = line.replaceAll('npx kubiya-runner', cli);
        const result = await run('bash', ['-c', command], { cwd: ws, env, maxBuffer: 16 * 1024 * 1024 }).then(
          (r) => ({ code: 0, stdout: r.stdout }),
          (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: `${e.stdout}${e.stderr}` }),
        );
        outputs.push({ command: line, ...result });
      }
    }
    assert.ok(outputs.length >= 9, `${outputs.length} commands ran`);
    for (const o of outputs) {
      const expected = o.command.includes('trivy-latest') ? 1 : 0;
      assert.equal(o.code, expected, `${o.command}\n${o.stdout}`);
    }
    const evals = outputs.filter((o) => o.command.includes('policy eval examples/python-analyze.yaml'));
    assert.match(
      evals.at(-1)?.stdout ?? '',
      /allowed[\s\S]*warn\s+STEP_TIMEOUT_MISSING/,
      'the new rule warns after step 2',
    );
    assert.match(outputs.find((o) => o.command.includes('trivy-latest'))?.stdout ?? '', /IMAGE_TAG_NOT_PINNED/);
    const replay = outputs.find((o) => o.command.includes('policy replay'))?.stdout ?? '';
    assert.match(replay, /0 newly denied, 1 newly allowed/, replay);
    assert.match(replay, /allowed internal\/app/);
  } finally {
    await rm(ws, { recursive: true, force: true });
    await rm('/tmp/candidate.tar.gz', { force: true });
  }
});
