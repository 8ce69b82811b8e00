import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import { buildBundle } from '../../src/adapters/bundle-build.ts';
import { SDK_CAPABILITIES, wasmCapabilities } from '../../src/adapters/opa-cli.ts';
import { loadEngine, readBundle } from '../../src/adapters/opa-wasm.ts';
import { PolicyStore } from '../../src/adapters/policy-store.ts';
import { REPO_ROOT, resolveTools } from '../../src/adapters/tools.ts';
import { main } from '../../src/cli/main.ts';
import { ERROR_CODES } from '../../src/errors/codes.ts';
import { unsupportedVerbs, wasmProblems } from '../../src/policy/wasm-compat.ts';

/**
 * Issue 18 §3 and §4. The class: Rego that the Go implementation accepts (opa test, opa check
 * --strict, regal) but the WASM host cannot evaluate, reaching production, where every step it
 * touches fails closed — even with the rule set to warn. Reported: a `sprintf` verb (`%q`).
 * Variants: every fmt verb and flag, checked against the real WASM host (one compiled module, one
 * entrypoint per verb) and against the static scan, which must agree; then the paths such a rule
 * takes to production: policy build, hot reload (a bundle built without the check, and one built
 * by plain `opa build`), policy test, policy eval — each refuses or reports it, naming the rule,
 * the builtin and the cause.
 */
const run = promisify(execFile);
const tools = resolveTools(['opa']);
if (!tools.ok) throw new Error(tools.error.message);
const opa = tools.value.opa;
let work: string;
let policies: string;

const RULE = `package kubiya.rules.timeouts

import data.kubiya.lib

violations contains lib.violation("timeouts", "STEP_TIMEOUT_MISSING", "step.timeout", msg) if {
\tnot input.step.timeout
\tmsg := sprintf("step %q must set a timeout", [input.step.name])
}
`;

async function cli(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (l) => out.push(l), err: (l) => err.push(l), color: false }, {});
  return { code, out: out.join('\n'), err: err.join('\n') };
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'kubiya-wasm-'));
  policies = join(work, 'policies');
  await cp(join(REPO_ROOT, 'policies'), policies, { recursive: true });
  await cp(join(REPO_ROOT, 'policy-fixtures'), join(work, 'policy-fixtures'), { recursive: true });
  await mkdir(join(policies, 'kubiya', 'rules', 'timeouts'));
  await writeFile(join(policies, 'kubiya', 'rules', 'timeouts', 'timeouts.rego'), RULE);
  // rolled out as warn: the throw must still be caught (it would fail closed, as a deny)
  const data = JSON.parse(await readFile(join(policies, 'data.json'), 'utf8')) as {
    kubiya: { settings: { enforcement: Record<string, string> } };
  };
  data.kubiya.settings.enforcement.STEP_TIMEOUT_MISSING = 'warn';
  await writeFile(join(policies, 'data.json'), JSON.stringify(data));
});
after(() => rm(work, { recursive: true, force: true }));

test('sprintf verbs: the static scan refuses exactly the verbs the WASM host throws on', async () => {
  const formats = [
    ...['%s', '%d', '%v', '%+v', '%x', '%X', '%o', '%b', '%e', '%f', '%.2f', '%5d', '%-5s', '%t', '%T', '%%'],
    ...['%q', '%U', '%E', '%G', '%F', '%O', '%p', '%#v', '%#x', '% d', '%w'],
  ];
  const dir = join(work, 'verbs');
  await mkdir(dir);
  const rules = formats.map((f, i) => `v${i} := sprintf(${JSON.stringify(`<${f}>`)}, [input.x])`).join('\n');
  await writeFile(join(dir, 'verbs.rego'), `package verbs\n\n${rules}\n`);
  const caps = await wasmCapabilities(opa, join(work, 'caps.json'));
  const entry = formats.flatMap((_, i) => ['-e', `verbs/v${i}`]);
  await run(opa, ['build', '-t', 'wasm', '--capabilities', caps, ...entry, '-o', join(work, 'verbs.tar.gz'), dir]);
  const files = await readBundle(join(work, 'verbs.tar.gz')).catch(async () => {
    // opa build writes no .manifest revision: read the module directly
    const { readTarGz } = await import('../../src/adapters/opa-wasm.ts');
    const raw = await readTarGz(join(work, 'verbs.tar.gz'));
    return { wasm: raw.get('policy.wasm')!, data: {}, revision: 'verbs' };
  });
  const engine = await loadEngine({ ...files, data: {} });
  for (const [i, f] of formats.entries()) {
    let threw = false;
    try {
      engine.evaluate({ x: 7 }, `verbs/v${i}`);
    } catch {
      threw = true;
    }
    assert.equal(unsupportedVerbs(f).length > 0, threw, `${f}: static scan and WASM host disagree`);
  }
  assert.ok(SDK_CAPABILITIES.length > 0);
});

test('the static scan names file, line, rule and builtin, also for a format on the line after sprintf(', () => {
  const problems = wasmProblems([
    { file: 'a.rego', text: RULE },
    { file: 'b.rego', text: 'package b\n\nmsg := sprintf(\n\t"%q",\n\t["x"],\n)\n' },
    { file: 'a_test.rego', text: 'package a_test\n\nt := sprintf("%q", ["x"])\n' },
  ]);
  assert.deepEqual(
    problems.map((p) => [p.file, p.line, p.rule, p.builtin]),
    [
      ['a.rego', 7, 'violations', 'sprintf'],
      ['b.rego', 3, 'msg', 'sprintf'],
    ],
  );
});

test('policy build refuses the bundle, naming the rule, the builtin and the fixture it throws on', async () => {
  await assert.rejects(buildBundle(opa, policies, join(work, 'refused.tar.gz')), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'POLICY_BUILD_FAILED');
    assert.match(
      e.message,
      /kubiya\/rules\/timeouts\/timeouts\.rego:7: rule violations: builtin sprintf: format verb %q/,
    );
    assert.match(
      e.message,
      /fixture allowed\.yaml#analyze: POLICY_EVAL_ERROR: policy evaluation failed: \[sprintf\] unexpected placeholder/,
    );
    return true;
  });
  const r = await cli('policy', 'build', '--policies', policies, '--out', join(work, 'refused.tar.gz'));
  assert.equal(r.code, 2);
  assert.match(r.err, /^POLICY_BUILD_FAILED: [\s\S]*rule violations: builtin sprintf/);
});

test('hot reload refuses such a bundle (last-known-good kept), whether built without the check or by plain opa build', async () => {
  const good = (await buildBundle(opa, join(REPO_ROOT, 'policies'), join(work, 'good.tar.gz'))).file;
  const unchecked = (await buildBundle(opa, policies, join(work, 'unchecked.tar.gz'), { checkFixtures: false })).file;
  const caps = await wasmCapabilities(opa, join(work, 'caps2.json'));
  const plain = join(work, 'plain.tar.gz');
  await run(opa, [
    ...['build', '-t', 'wasm', '-e', 'kubiya/main/decision', '--capabilities', caps, '--revision', 'plain'],
    ...['--ignore', '*_test.rego', '-o', plain, policies],
  ]);
  for (const bad of [unchecked, plain]) {
    const live = join(work, 'live.tar.gz');
    await cp(good, live);
    const reasons: string[] = [];
    const store = new PolicyStore(live, { loaded: () => undefined, rejected: (r) => reasons.push(r) });
    const first = await store.load();
    await cp(bad, `${live}.new`);
    await rename(`${live}.new`, live);
    assert.equal(await store.reload(), 'rejected', bad);
    assert.equal(store.current()?.revision, first.revision, 'the last good bundle keeps deciding');
    assert.match(reasons.at(-1) ?? '', /rule violations: builtin sprintf: format verb %q/);
    // and at start, the runner does not take it either
    await assert.rejects(
      new PolicyStore(bad, { loaded: () => undefined, rejected: () => undefined }).load(),
      /sprintf/,
    );
  }
});

test('policy test shows the failing cases with the cause, policy eval prints the evaluation error with its cause', async () => {
  const t = await cli('policy', 'test', '--policies', policies);
  assert.equal(t.code, 1, t.out + t.err);
  assert.match(
    t.out,
    /FAIL\s+allowed\.yaml#analyze[\s\S]*got\s+error POLICY_EVAL_ERROR: policy evaluation failed: \[sprintf\] unexpected placeholder/,
  );
  const e = await cli('policy', 'eval', join(REPO_ROOT, 'examples', 'python-analyze.yaml'), '--policies', policies);
  // eval builds with the check, so it refuses first, naming the rule
  assert.equal(e.code, 2);
  assert.match(e.err, /POLICY_BUILD_FAILED[\s\S]*builtin sprintf/);
  const unchecked = (await buildBundle(opa, policies, join(work, 'u2.tar.gz'), { checkFixtures: false })).file;
  const e2 = await cli('policy', 'eval', join(REPO_ROOT, 'examples', 'python-analyze.yaml'), '--bundle', unchecked);
  assert.equal(e2.code, 1);
  assert.match(e2.out, /error POLICY_EVAL_ERROR: policy evaluation failed: \[sprintf\] unexpected placeholder/);
});

test("policy test prints opa's own message (file:line) for policies that do not load", async () => {
  const cases: { name: string; edit: (dir: string) => Promise<void>; cause: RegExp }[] = [
    {
      name: 'a trailing comma in data.json',
      edit: (dir) => writeFile(join(dir, 'data.json'), '{"kubiya": {"settings": {},}}'),
      cause: /data\.json/,
    },
    {
      name: 'a parse error in a rule',
      edit: (dir) =>
        writeFile(join(dir, 'kubiya', 'rules', 'images', 'images.rego'), 'package kubiya.rules.images\n\nx := [\n'),
      cause: /images\.rego:\d+/,
    },
    {
      name: 'recursion in a test',
      edit: (dir) =>
        writeFile(
          join(dir, 'kubiya', 'lib', 'loop_test.rego'),
          'package kubiya.lib.loop_test\n\na if b\n\nb if a\n\ntest_loop if a\n',
        ),
      cause: /loop_test\.rego:\d+.*recursi/,
    },
  ];
  for (const c of cases) {
    const dir = join(work, `broken-${c.name.replaceAll(' ', '-')}`);
    await cp(join(REPO_ROOT, 'policies'), dir, { recursive: true });
    await c.edit(dir);
    const r = await cli('policy', 'test', '--policies', dir);
    assert.equal(r.code, 1, c.name);
    assert.match(r.err, /^POLICY_BUILD_FAILED: opa test could not load/, c.name);
    assert.match(r.err, c.cause, `${c.name}: ${r.err}`);
  }
});

test('replay reports a candidate evaluation error under its catalogue code, with its cause', async () => {
  const { replay } = await import('../../src/policy/replay.ts');
  const engine = await loadEngine(
    await readBundle((await buildBundle(opa, policies, join(work, 'u3.tar.gz'), { checkFixtures: false })).file),
  );
  const input = {
    runner: 'r',
    workflow: { id: 'w', name: 'w', runId: 'r', volumes: [] },
    step: { name: 's', image: 'alpine:3.19.1' },
    pod: { spec: { containers: [{ name: 'step', image: 'alpine:3.19.1' }] } },
  };
  const report = replay(
    [
      {
        stage: 'evaluate',
        outcome: 'allow',
        decision_id: 'd1',
        input,
        result: { allow: true, violations: [] },
        step: 's',
        workflow: { id: 'w' },
      } as never,
    ],
    engine,
  );
  assert.equal(report.newlyDenied.length, 1);
  assert.deepEqual(
    report.errors.map((e) => e.error?.code),
    ['POLICY_EVAL_ERROR'],
  );
  assert.match(report.errors[0]!.error!.message, /\[sprintf\] unexpected placeholder/);
  for (const c of [...report.newlyDenied.flatMap((x) => x.after), ...report.errors.map((x) => x.error!.code)])
    if (!/^[A-Z]+_/.test(c) || c.startsWith('POLICY_'))
      assert.ok((ERROR_CODES as string[]).includes(c), `${c} is a catalogue code`);
});
