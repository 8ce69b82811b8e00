import assert from 'node:assert/strict';
import { cp, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { stringify } from 'yaml';
import { FileAuditLog } from '../../src/adapters/audit-file.ts';
import { BundlePoller } from '../../src/adapters/bundle-poller.ts';
import { renderBakedSettings, renderChartSettings } from '../../src/adapters/chart-settings.ts';
import { startBundleServer } from '../../src/dev/bundle-server.ts';
import { buildBundle } from '../../src/adapters/bundle-build.ts';
import { writeTarGz } from '../../src/adapters/bundle-tar.ts';
import { loadEngine, readBundle, readTarGz } from '../../src/adapters/opa-wasm.ts';
import { policyVerificationKeys } from '../../src/adapters/policy-keys.ts';
import { PolicyStore } from '../../src/adapters/policy-store.ts';
import { loadConfig } from '../../src/config/load.ts';
import { evaluate, policyInput } from '../../src/evaluate/evaluate.ts';
import { signingKeyFromPem } from '../../src/policy/bundle-signature.ts';
import { podContextOf } from '../../src/policy/pod-context.ts';
import { buildPod } from '../../src/pod/build.ts';
import type { Workflow } from '../../src/validate/schema.ts';
import { REPO_ROOT, resolveTools } from '../../src/adapters/tools.ts';
import { newSigningKey } from '../../src/dev/sign.ts';
import { readWorkflowFile } from '../../src/dev/workflow-file.ts';
import { blockCommands, fencedBlocks, recordDecisions, runShell } from '../support/doc-walkthrough.ts';

const tools = resolveTools(['opa']);
if (!tools.ok) throw new Error(tools.error.message);
const opa = tools.value.opa;

/** Seeds the workspace's .kubiya/demo/audit with real decisions, as `npm run demo` would. */
async function seedAuditLog(ws: string): Promise<void> {
  const { file } = await buildBundle(opa, join(ws, 'policies'), join(ws, 'seed.tar.gz'));
  const engine = await loadEngine(await readBundle(file));
  const key = await newSigningKey();
  const audit = await FileAuditLog.open(join(ws, '.kubiya', 'demo', 'audit'));
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
  await recordDecisions(
    audit,
    engine,
    { runner: 'docs', trusted: key, workers: 4 },
    workflows.map((workflow) => ({ workflow })),
  );
}

/**
 * Step 5 of the walkthrough ("sh cluster" blocks), run on a PolicyStore configured as the chart
 * configures a runner for the walkthrough's signed-values.yaml with its verification key (as
 * `--set-file policy.verificationKeys[0]=` gives it): no settings overlay is rendered, the
 * settings come from the signed bundle (my-values.yaml's, baked in by `policy build --values`); the
 * signed candidate rolls out by an atomic file replace (the new rule warns), a tampered copy is
 * refused (the candidate keeps deciding), a settings file beside the signed bundle is refused, and
 * rolling back is replacing it with the previous signed bundle.
 */
async function rolloutAndRollback(ws: string): Promise<void> {
  const helm = resolveTools(['helm']);
  if (!helm.ok) throw new Error(helm.error.message);
  const pem = await readFile('/tmp/bundle-verify.pem', 'utf8');
  await writeFile(join(ws, 'keys.yaml'), stringify({ policy: { verificationKeys: [pem] } }));
  const rendered = await renderChartSettings(helm.value.helm, [join(ws, 'signed-values.yaml'), join(ws, 'keys.yaml')]);
  assert.equal(rendered.dataText, undefined, 'the chart renders no settings overlay beside verification keys');
  const signingKey = signingKeyFromPem(await readFile('/tmp/bundle-signing.pem', 'utf8'));
  const settings = {
    label: 'chart values my-values.yaml',
    dataText: await renderBakedSettings(helm.value.helm, [join(ws, 'my-values.yaml')]),
  };
  const previous = await buildBundle(opa, join(REPO_ROOT, 'policies'), join(ws, 'previous.tar.gz'), {
    signingKey,
    settings,
  });
  const live = join(ws, 'live', 'bundle.tar.gz');
  await mkdir(dirname(live), { recursive: true });
  const replace = async (from: string) => {
    await cp(from, `${live}.new`);
    await rename(`${live}.new`, live);
  };
  await replace(previous.file);
  const keys = await policyVerificationKeys(['/tmp/bundle-verify.pem']);
  const parsed = loadConfig(rendered.runnerYaml, {});
  assert.ok(parsed.ok);
  assert.equal(parsed.value.policy.data, undefined, 'no policy.data beside verification keys');
  assert.equal(parsed.value.policy.verificationKeys?.length, 1);
  const store = new PolicyStore(
    live,
    { loaded: () => undefined, rejected: () => undefined },
    parsed.value.policy.data,
    {
      verificationKeys: keys,
    },
  );
  const before = await store.load();
  assert.match(before.revision, /\+data-[0-9a-f]{8}$/, 'the baked settings are named in the revision');
  assert.equal(before.revision, previous.revision);
  // a settings file beside the signed bundle (the ConfigMap of an older chart, edited): refused
  await writeFile(join(ws, 'weak.json'), '{"kubiya": {"settings": {"enforcement": {"IMAGE_DENIED": "audit"}}}}');
  const overlaid = new PolicyStore(
    live,
    { loaded: () => undefined, rejected: () => undefined },
    join(ws, 'weak.json'),
    {
      verificationKeys: keys,
    },
  );
  await assert.rejects(overlaid.load(), { code: 'POLICY_SETTINGS_UNSIGNED' });
  const ctx = podContextOf(parsed.value);
  const warns = () => {
    const wf = { id: 'w', name: 'w', runId: 'r', steps: [{ name: 's', image: 'python:3.11-slim' }] } as Workflow;
    const step = wf.steps[0]!;
    const r = evaluate(policyInput(ctx.runner, wf, step, buildPod(wf, step, ctx)), store.current());
    assert.ok(r.kind === 'allow', r.kind === 'error' ? r.error.message : r.kind);
    return r.decision.violations.filter((v) => v.action === 'warn').map((v) => v.code);
  };
  assert.deepEqual(warns(), []);
  const evil = {
    id: 'e',
    name: 'e',
    runId: 'r',
    steps: [{ name: 's', image: 'docker.io/library/evil:1' }],
  } as Workflow;
  const denied = evaluate(
    policyInput(ctx.runner, evil, evil.steps[0]!, buildPod(evil, evil.steps[0]!, ctx)),
    store.current(),
  );
  assert.ok(
    denied.kind === 'deny' && denied.decision.violations.some((v) => v.code === 'IMAGE_DENIED'),
    'my-values.yaml, signed',
  );
  await replace('/tmp/candidate.tar.gz');
  assert.equal(await store.reload(), 'swapped', 'the signed candidate rolls out');
  assert.deepEqual(warns(), ['STEP_TIMEOUT_MISSING'], 'warn-first, under the chart');
  const candidate = store.current()?.revision;
  const files = await readTarGz('/tmp/candidate.tar.gz');
  files.set('data.json', Buffer.from('{"kubiya": {"settings": {"enforcement": {}}}}'));
  await writeTarGz(join(ws, 'tampered.tar.gz'), files);
  await replace(join(ws, 'tampered.tar.gz'));
  assert.equal(await store.reload(), 'rejected', 'a tampered bundle is refused');
  assert.equal(store.current()?.revision, candidate);
  await replace(previous.file);
  assert.equal(await store.reload(), 'swapped', 'roll back');
  assert.equal(store.current()?.revision, before.revision);
  assert.deepEqual(warns(), []);

  // the same through a bundle server (dev bundle-server), publishing by atomic replace
  const served = join(ws, 'bundles');
  await mkdir(served);
  const publish = async (from: string) => {
    await cp(from, join(served, 'bundle.tar.gz.new'));
    await rename(join(served, 'bundle.tar.gz.new'), join(served, 'bundle.tar.gz'));
  };
  const server = await startBundleServer(served);
  try {
    const poller = new BundlePoller(
      { url: `${server.url}/bundle.tar.gz`, target: live, intervalMs: 1000, maxBackoffMs: 4000 },
      store,
      { polled: () => undefined },
    );
    await publish('/tmp/candidate.tar.gz');
    assert.equal((await poller.pollOnce()).kind, 'swapped', 'the candidate from the bundle server');
    assert.deepEqual(warns(), ['STEP_TIMEOUT_MISSING']);
    await publish(join(ws, 'tampered.tar.gz'));
    assert.equal((await poller.pollOnce()).kind, 'rejected');
    assert.equal(store.current()?.revision, candidate);
    await publish(previous.file);
    assert.equal((await poller.pollOnce()).kind, 'swapped', 'roll back through the bundle server');
    assert.equal(store.current()?.revision, before.revision);
  } finally {
    await server.close();
    store.close();
  }
}

test('docs/policies.md: every command of the walkthrough works as written', async () => {
  const ws = await mkdtemp(join(tmpdir(), 'kubiya-docs-'));
  try {
    await cp(join(REPO_ROOT, 'policies'), join(ws, 'policies'), { recursive: true });
    await cp(join(REPO_ROOT, 'examples'), join(ws, 'examples'), { recursive: true });
    await cp(join(REPO_ROOT, 'policy-fixtures'), join(ws, 'policy-fixtures'), { recursive: true });
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
    for (const block of fencedBlocks(md)) {
      const file = /^(?:rego|yaml) file=(\S+)$/.exec(block.info)?.[1];
      if (file !== undefined) {
        await mkdir(dirname(join(ws, file)), { recursive: true });
        await writeFile(join(ws, file), block.body);
        continue;
      }
      if (block.info !== 'sh') continue; // "sh cluster" blocks need a cluster and kubectl
      for (const line of blockCommands(block.body)) {
        const r = await runShell(line.replaceAll('npx kubiya-runner', cli), { cwd: ws, env });
        // a failing command's stderr is part of what the test reads
        outputs.push({ command: line, code: r.code, stdout: r.code === 0 ? r.stdout : `${r.stdout}${r.stderr}` });
      }
    }
    assert.ok(outputs.length >= 10, `${outputs.length} commands ran`);
    // every policy command decides through the chart's rendered settings (the platform team's
    // values); once signed, they are baked into the bundle, and the verifying runner's values set none
    for (const o of outputs.filter((x) => / policy (eval|test|replay) /.test(x.command)))
      assert.match(
        o.command,
        o.command.includes('--verification-key') ? /--values signed-values\.yaml/ : /--values my-values\.yaml/,
        o.command,
      );
    const signedBuild = outputs.find((o) => / policy build .*--signing-key/.test(o.command));
    assert.match(signedBuild?.command ?? '', /--values my-values\.yaml/, 'the signed build bakes the values in');
    const signedEval = outputs.find((o) => / policy eval .*--verification-key/.test(o.command));
    assert.match(signedEval?.stdout ?? '', /allowed[\s\S]*warn\s+STEP_TIMEOUT_MISSING/, 'warn-first, signed');
    assert.match(signedEval?.stdout ?? '', /\+data-[0-9a-f]{8}/, 'the revision names the baked settings');
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
    assert.match(
      replay,
      /0 newly denied, 1 newly allowed, [1-9]\d* newly warned, 0 no longer warned, 0 evaluation errors/,
      replay,
    );
    assert.match(replay, /allowed +internal\/app/);
    assert.match(replay, /STEP_TIMEOUT_MISSING +0 → 0 +0 → [1-9]/, 'the warn counts per code');
    assert.match(replay, /^ {2}timeouts +0 → 0 +0 → [1-9]/m, 'the warn counts per policy');
    const tests = outputs.filter((o) => o.command.includes('policy test'));
    assert.match(tests.at(-1)?.stdout ?? '', /ok +timeouts\.yaml#without-timeout +allow; warn STEP_TIMEOUT_MISSING/);
    assert.match(
      await readFile('/tmp/policy-tests.xml', 'utf8'),
      /<testsuite name="fixture suites" tests="\d+" failures="0"/,
    );
    // a shown session (`$ command` then its output, "..." cutting it short) prints what it shows
    const sessions = fencedBlocks(md).filter((b) => b.info === '' && b.body.startsWith('$ npx kubiya-runner '));
    assert.ok(sessions.length >= 1, 'the refused overlay over a signed bundle is shown');
    for (const session of sessions) {
      const [first = '', ...shown] = session.body.trimEnd().split('\n');
      const command = first.slice(2).replaceAll('npx kubiya-runner', cli);
      const shell = await runShell(command, { cwd: ws, env });
      const result = { code: shell.code, text: `${shell.stdout}${shell.stderr}` };
      assert.equal(result.code, 2, `${first}\n${result.text}`);
      for (const line of shown)
        assert.ok(result.text.includes(line.replace(/ ?\.\.\.$/, '')), `${line}\n${result.text}`);
    }
    await rolloutAndRollback(ws);
  } finally {
    await rm(ws, { recursive: true, force: true });
    await rm('/tmp/candidate.tar.gz', { force: true });
    for (const f of ['/tmp/policy-tests.xml', '/tmp/bundle-signing.pem', '/tmp/bundle-verify.pem'])
      await rm(f, { force: true });
  }
});
