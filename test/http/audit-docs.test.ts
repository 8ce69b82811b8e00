/**
 * docs/audit.md, run as written: every command of its `sh` blocks, in order, in a workspace laid
 * out as the README's setup leaves a checkout (`npm run demo` wrote `.kubiya/demo/audit`, its
 * checkpoints and `.kubiya/demo/audit-signing.pub.pem`), with `npx kubiya-runner` resolving to this
 * checkout's CLI (offline: npx never asks the registry). Blocks marked `sh cluster` need a cluster:
 * the test lays out what they produce instead (two replicas' directories copied out, and the
 * signing Secret's public key), from real decisions of the pipeline with the compiled policy.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { FileAuditLog } from '../../src/adapters/audit-file.ts';
import { buildBundle } from '../../src/adapters/bundle-build.ts';
import { loadEngine, readBundle } from '../../src/adapters/opa-wasm.ts';
import { REPO_ROOT, resolveTools } from '../../src/adapters/tools.ts';
import { keyId } from '../../src/audit/keys.ts';
import { newSigningKey } from '../../src/dev/sign.ts';
import { readWorkflowFile } from '../../src/dev/workflow-file.ts';
import { blockCommands, fencedBlocks, recordDecisions, runShell } from '../support/doc-walkthrough.ts';

const checkpointKey = generateKeyPairSync('ed25519');

/** Real decisions (allowed, denied by policy, a bad signature) into a checkpointed audit directory, as the demo writes them. */
async function seed(engine: Awaited<ReturnType<typeof loadEngine>>, dir: string, workflows: string[]): Promise<void> {
  const key = await newSigningKey();
  const stranger = await newSigningKey();
  const audit = await FileAuditLog.open(dir, {
    checkpoint: { key: checkpointKey.privateKey, kid: keyId(checkpointKey.publicKey), every: 1000, intervalMs: 10_000 },
  });
  const assignments = [];
  for (const [i, w] of workflows.entries()) {
    const workflow = await readWorkflowFile(join(REPO_ROOT, 'examples', w));
    // the last one: an unknown key, as in the demo
    assignments.push({ workflow, ...(i === workflows.length - 1 ? { signer: stranger } : {}) });
  }
  await recordDecisions(audit, engine, { runner: 'demo-runner', trusted: key, workers: 2 }, assignments);
}

test('docs/audit.md: every command of the walkthrough works as written', async () => {
  const ws = await mkdtemp(join(tmpdir(), 'kubiya-audit-docs-'));
  try {
    const pub = checkpointKey.publicKey.export({ type: 'spki', format: 'pem' }) as string;
    const tools = resolveTools(['opa']);
    if (!tools.ok) throw new Error(tools.error.message);
    const { file } = await buildBundle(tools.value.opa, join(REPO_ROOT, 'policies'), join(ws, 'bundle.tar.gz'));
    const engine = await loadEngine(await readBundle(file));
    const flows = ['python-analyze.yaml', 'denied/trivy-latest.yaml', 'python-analyze.yaml'];
    await seed(engine, join(ws, '.kubiya', 'demo', 'audit'), flows);
    await writeFile(join(ws, '.kubiya', 'demo', 'audit-signing.pub.pem'), pub);
    // What the `sh cluster` block copies out of two replicas.
    await seed(engine, join(ws, 'audit-0'), ['python-analyze.yaml', 'python-analyze.yaml']);
    await seed(engine, join(ws, 'audit-1'), ['denied/trivy-latest.yaml', 'python-analyze.yaml']);
    await writeFile(join(ws, 'audit-signing.pub.pem'), pub);
    // `npx kubiya-runner` as in the checkout: the project's bin, run by the pinned Node first on PATH.
    await writeFile(join(ws, 'package.json'), '{ "private": true }\n');
    await mkdir(join(ws, 'node_modules', '.bin'), { recursive: true });
    await symlink(join(REPO_ROOT, 'bin', 'kubiya-runner.js'), join(ws, 'node_modules', '.bin', 'kubiya-runner'));
    await cp(join(REPO_ROOT, 'examples'), join(ws, 'examples'), { recursive: true });
    const env = {
      ...process.env,
      PATH: `${join(REPO_ROOT, 'node_modules', '.bin')}:${process.env.PATH ?? ''}`,
      NO_COLOR: '1',
      npm_config_offline: 'true',
      npm_config_update_notifier: 'false',
    };
    const md = await readFile(join(REPO_ROOT, 'docs', 'audit.md'), 'utf8');
    const outputs: { command: string; code: number; stdout: string; stderr: string }[] = [];
    for (const block of fencedBlocks(md).filter((b) => b.info === 'sh')) {
      for (const command of blockCommands(block.body)) {
        assert.match(command, /^npx kubiya-runner /, 'the doc uses the command as the README sets it up');
        outputs.push({ command, ...(await runShell(command, { cwd: ws, env, timeout: 120_000 })) });
      }
    }
    assert.ok(outputs.length >= 12, `${outputs.length} commands ran`);
    for (const o of outputs) assert.equal(o.code, 0, `${o.command}\n${o.stdout}\n${o.stderr}`);
    const find = (part: string): { stdout: string; stderr: string } => {
      const o = outputs.find((x) => x.command.includes(part));
      assert.ok(o !== undefined, part);
      return o;
    };
    // Where each command was meant to end.
    assert.match(
      find('audit verify .kubiya/demo/audit --public-key').stdout,
      /^ok: .*chain intact[\s\S]*checkpoints: 1 of 1 verified with kid [0-9a-f]{16}/,
    );
    const saved = JSON.parse(await readFile(join(ws, 'verified.json'), 'utf8')) as {
      ok: boolean;
      save: { minSeq: number };
    };
    assert.equal(saved.ok, true);
    assert.ok(saved.save.minSeq > 10);
    assert.match(find('--against verified.json').stdout, /^ok: /);
    assert.match(find('audit verify audit-0 audit-1').stdout, /^ok: audit-0:[\s\S]*^ok: audit-1:/m);
    assert.match(
      find('audit query audit-0 audit-1 --outcome deny').stdout,
      /^chain\tseq[\s\S]*audit-1\t\d+\t.*IMAGE_TAG_NOT_PINNED/m,
    );
    assert.match(
      find('audit report audit-0 audit-1').stdout,
      /wrote replicas\.html: (Intact|Hash chain intact)[^\n]*\d+ records in 2 chain\(s\)/,
    );
    assert.match(
      find('audit query .kubiya/demo/audit --outcome deny').stdout,
      /evaluate\tdeny\tsecurity-scan\t.*IMAGE_TAG_NOT_PINNED: image "aquasec\/trivy:latest"/,
    );
    assert.match(find('audit query .kubiya/demo/audit --outcome deny').stdout, /verify\tdeny\t.*VERIFY_KEY_NOT_FOUND/);
    const trivy = find('--image aquasec/trivy').stdout.trim().split('\n');
    assert.equal(trivy.length, 1, 'the repository as an auditor types it finds the denied step');
    assert.match(trivy[0] ?? '', /"image":"aquasec\/trivy:latest"/);
    assert.match(find('--repository docker.io/library').stdout, /evaluate\tallow\tanalyze/);
    assert.match(
      await readFile(join(ws, 'denials.csv'), 'utf8'),
      /"revision"[\s\S]*"IMAGE_TAG_NOT_PINNED: image ""aquasec/,
    );
    const events = (await readFile(join(ws, 'decisions.ndjson'), 'utf8')).trim().split('\n');
    const evaluate = events
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((e) => e.path === 'kubiya/main/decision');
    assert.ok(
      evaluate !== undefined &&
        typeof (evaluate.bundles as { kubiya: { revision: string } }).kubiya.revision === 'string',
    );
    assert.match(await readFile(join(ws, 'audit.html'), 'utf8'), /id="refusals"[\s\S]*IMAGE_TAG_NOT_PINNED/);
  } finally {
    await rm(ws, { recursive: true, force: true });
  }
});
