import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { loadEngine } from '../../src/adapters/opa-wasm.ts';
import { evaluate, policyInput } from '../../src/evaluate/evaluate.ts';
import type { PolicyEngine } from '../../src/evaluate/policy-engine.ts';
import { buildPod } from '../../src/pod/build.ts';
import { validate } from '../../src/validate/validate.ts';
import { VALUE_CASES } from '../support/credentials.ts';
import { shippedBundle } from '../support/shipped-bundle.ts';
import { STEP_RESOURCES as R, TEST_POD_CONTEXT as ctx } from '../support/pod-context.ts';

/**
 * A credential split across variables and joined by the kubelet's `$(NAME)` expansion (the sibling
 * of red team 8, finding 2: text read a second time after the decision). `A: <first half>` and
 * `B: "$(A)<second half>"` each pass the secret-literal rule alone; the process gets the whole
 * credential in B (or in its args or command). The policy decides on the step as its processes
 * will see it (src/evaluate/kubelet-view.ts), so every split of every credential of the shared
 * table is SECRET_LITERAL as the whole literal is, through the compiled WASM; a composition of
 * harmless values (`$(BASE)/bin`) stays allowed.
 */

let engine: PolicyEngine;
before(async () => {
  engine = await loadEngine(await shippedBundle());
});

function codes(step: Record<string, unknown>): string[] {
  const wf = validate({
    id: 'wf',
    name: 'n',
    runId: 'run',
    steps: [{ name: 's', image: 'python:3.11', resources: R, ...step }],
  });
  assert.ok(wf.ok, JSON.stringify(!wf.ok && wf.error));
  const s = wf.value.steps[0]!;
  const r = evaluate(policyInput('r', wf.value, s, buildPod(wf.value, s, ctx)), engine);
  assert.ok(r.kind !== 'error', JSON.stringify(r));
  return r.decision.violations.map((v) => v.code);
}

/** Where the joined text can land: a later env value, an argument, the command line. */
const JOINS: readonly { name: string; step: (head: string, tail: string) => Record<string, unknown> }[] = [
  { name: 'env', step: (h, t) => ({ env: { PART: h, JOINED: `$(PART)${t}` } }) },
  { name: 'args', step: (h, t) => ({ env: { PART: h }, args: [`$(PART)${t}`] }) },
  { name: 'command', step: (h, t) => ({ env: { PART: h }, command: ['sh', '-c', `echo $(PART)${t}`] }) },
  {
    name: 'sidecar env',
    step: (h, t) => ({
      sidecars: [{ name: 'sc', image: 'python:3.11', resources: R, env: { PART: h, JOINED: `$(PART)${t}` } }],
    }),
  },
];

test(`a credential split across variables is denied as the whole: ${VALUE_CASES.length} values × ${JOINS.length} joins`, () => {
  let split = 0;
  for (const c of VALUE_CASES) {
    if (c.ids.length === 0 || c.text.includes('$')) continue;
    const whole = codes({ env: { X: c.text } });
    assert.ok(whole.includes('SECRET_LITERAL'), `control: ${c.text} whole`);
    const at = Math.floor(c.text.length / 2);
    const [head, tail] = [c.text.slice(0, at), c.text.slice(at)];
    if (codes({ env: { X: head, Y: tail } }).includes('SECRET_LITERAL')) continue; // the halves alone are denied
    split++;
    for (const j of JOINS)
      assert.ok(codes(j.step(head, tail)).includes('SECRET_LITERAL'), `${j.name}: ${JSON.stringify(c.text)}`);
  }
  assert.ok(
    split >= 5,
    `only ${String(split)} credentials whose halves pass alone: the table no longer tests the join`,
  );
});

test('control: composing harmless values is allowed, and a Secret reference stays a reference', () => {
  assert.deepEqual(codes({ env: { BASE: '/opt/app', BIN: '$(BASE)/bin' }, args: ['--path=$(BIN)'] }), []);
  assert.deepEqual(
    codes({ env: { TOKEN: { secretRef: { secret: 'gh', key: 'token' } } }, args: ['$(TOKEN)'] }).filter(
      (c) => c === 'SECRET_LITERAL',
    ),
    [],
  );
});
