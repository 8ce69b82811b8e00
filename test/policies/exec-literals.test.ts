import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { loadEngine } from '../../src/adapters/opa-wasm.ts';
import { maskValue } from '../../src/audit/mask.ts';
import { evaluate, policyInput } from '../../src/evaluate/evaluate.ts';
import type { PolicyEngine } from '../../src/evaluate/policy-engine.ts';
import { buildPod } from '../../src/pod/build.ts';
import { validate } from '../../src/validate/validate.ts';
import { ARGV_CASES, GITHUB_TOKEN, VALUE_CASES } from '../support/credentials.ts';
import { shippedBundle } from '../support/shipped-bundle.ts';
import { STEP_RESOURCES as R, TEST_POD_CONTEXT as ctx } from '../support/pod-context.ts';

/**
 * REDTEAM-3 finding 1, as a class: every string a container executes — command, args, plain env
 * values, and every exec handler (a sidecar's readinessProbe.exec.command, rendered as the pod's
 * readinessProbe AND startupProbe; any probe or lifecycle exec the pod builder renders later) — in
 * the step, its sidecars and its init containers, is held to the same secret-literal policy through
 * the compiled WASM. The exec handlers are checked on the BUILT pod, so the last test plants exec
 * fields the builder does not render today and expects them denied too.
 */

let engine: PolicyEngine;
before(async () => {
  engine = await loadEngine(await shippedBundle());
});

function decide(
  step: Record<string, unknown>,
  pod?: (p: V1Pod) => void,
): { allow: boolean; codes: string[]; paths: string[] } {
  const wf = validate({ id: 'wf', name: 'n', runId: 'run', steps: [step] });
  assert.ok(wf.ok, JSON.stringify(!wf.ok && wf.error));
  const built = buildPod(wf.value, wf.value.steps[0]!, ctx);
  pod?.(built);
  const r = evaluate(policyInput('r', wf.value, wf.value.steps[0]!, built), engine);
  assert.ok(r.kind !== 'error', JSON.stringify(r));
  const secret = r.decision.violations.filter((v) => v.code === 'SECRET_LITERAL');
  return {
    allow: r.kind === 'allow',
    codes: r.decision.violations.map((v) => v.code),
    paths: secret.map((v) => v.path),
  };
}

const sidecar = (extra: Record<string, unknown>) => ({
  name: 'pg',
  image: 'postgres:15',
  ports: [{ port: 5432, name: 'pg' }],
  resources: R,
  ...extra,
});
const probe = (command: string[]) => ({ readinessProbe: { exec: { command } } });

/** Where a word can go in a step: every exec position the schema has. */
const POSITIONS: readonly { name: string; step: (word: string) => Record<string, unknown> }[] = [
  { name: 'step command', step: (w) => ({ command: ['sh', '-c', w] }) },
  { name: 'step args', step: (w) => ({ args: [w] }) },
  { name: 'step env', step: (w) => ({ env: { A: w } }) },
  { name: 'sidecar command', step: (w) => ({ sidecars: [sidecar({ command: ['sh', '-c', w] })] }) },
  { name: 'sidecar env', step: (w) => ({ sidecars: [sidecar({ env: { A: w } })] }) },
  { name: 'sidecar readinessProbe exec', step: (w) => ({ sidecars: [sidecar(probe(['sh', '-c', w]))] }) },
  {
    name: 'init args',
    step: (w) => ({ initContainers: [{ name: 'dl', image: 'alpine:3.20', resources: R, args: [w] }] }),
  },
];

test('the reported example: a ghp_ token in a sidecar readiness probe is SECRET_LITERAL, as in command', () => {
  const curl = `curl -H "Authorization: Bearer ${GITHUB_TOKEN}" http://x`;
  const base = { name: 's', image: 'python:3.11', resources: R };
  const viaProbe = decide({ ...base, sidecars: [sidecar(probe(['sh', '-c', curl]))] });
  assert.equal(viaProbe.allow, false);
  assert.ok(viaProbe.codes.includes('SECRET_LITERAL'), viaProbe.codes.join(','));
  // rendered twice (readinessProbe and startupProbe of the native sidecar): both places are named
  assert.ok(
    viaProbe.paths.some((p) => p.includes('.readinessProbe.exec.command[2]')),
    viaProbe.paths.join(' '),
  );
  assert.ok(
    viaProbe.paths.some((p) => p.includes('.startupProbe.exec.command[2]')),
    viaProbe.paths.join(' '),
  );
  const viaCommand = decide({ ...base, command: ['sh', '-c', curl] });
  assert.ok(viaCommand.codes.includes('SECRET_LITERAL'));
  const benign = decide({ ...base, sidecars: [sidecar(probe(['pg_isready', '-U', 'postgres']))] });
  assert.equal(benign.allow, true, benign.codes.join(','));
});

test(`every exec position decides a literal the same way: ${VALUE_CASES.length} values × ${POSITIONS.length} positions`, () => {
  for (const c of VALUE_CASES) {
    const expected = c.ids.length > 0;
    for (const p of POSITIONS) {
      const d = decide({ name: 's', image: 'python:3.11', resources: R, ...p.step(c.text) });
      assert.equal(
        d.codes.includes('SECRET_LITERAL'),
        expected,
        `${p.name}: ${JSON.stringify(c.text)} ${d.codes.join(',')}`,
      );
    }
  }
});

test(`a credential split over the words of a probe command (${ARGV_CASES.length} command lines) is seen as in command`, () => {
  for (const c of ARGV_CASES) {
    const words = [...(c.command ?? []), ...(c.args ?? [])];
    if (words.length === 0) continue;
    const d = decide({ name: 's', image: 'python:3.11', resources: R, sidecars: [sidecar(probe(words))] });
    assert.equal(
      d.codes.includes('SECRET_LITERAL'),
      c.secret !== undefined,
      `${JSON.stringify(words)}: ${d.codes.join(',')}`,
    );
  }
});

test('any exec handler of the built pod is covered, including ones the builder does not render today', () => {
  const exec = { exec: { command: ['sh', '-c', `curl -H "Authorization: Bearer ${GITHUB_TOKEN}" http://x`] } };
  const handlers: readonly [string, (c: V1Container) => void][] = [
    ['livenessProbe', (c) => void (c.livenessProbe = exec)],
    ['startupProbe', (c) => void (c.startupProbe = exec)],
    ['lifecycle.postStart', (c) => void (c.lifecycle = { postStart: exec })],
    ['lifecycle.preStop', (c) => void (c.lifecycle = { preStop: exec })],
  ];
  const step = {
    name: 's',
    image: 'python:3.11',
    resources: R,
    sidecars: [sidecar({})],
    initContainers: [{ name: 'dl', image: 'alpine:3.20', resources: R }],
  };
  for (const [field, plant] of handlers) {
    for (const kind of ['containers', 'initContainers'] as const) {
      const d = decide(step, (p) => p.spec![kind]!.forEach(plant));
      assert.ok(d.codes.includes('SECRET_LITERAL'), `${kind} ${field}: ${d.codes.join(',')}`);
      assert.ok(
        d.paths.some((x) => x.startsWith(`pod.spec.${kind}[`) && x.includes(`.${field}.exec.command[2]`)),
        d.paths.join(' '),
      );
    }
  }
});

test('the audit log masks a probe command like any other: the pod as recorded holds no token', () => {
  const step = {
    name: 's',
    image: 'python:3.11',
    resources: R,
    sidecars: [sidecar(probe(['sh', '-c', `curl -H "Authorization: Bearer ${GITHUB_TOKEN}" http://x`]))],
  };
  const wf = validate({ id: 'wf', name: 'n', runId: 'run', steps: [step] });
  assert.ok(wf.ok);
  const pod = buildPod(wf.value, wf.value.steps[0]!, ctx);
  assert.ok(JSON.stringify(pod).includes(GITHUB_TOKEN), 'the probe is rendered in the pod');
  const masked: string[] = [];
  const out = JSON.stringify(maskValue(pod, 'pod', masked));
  assert.ok(!out.includes(GITHUB_TOKEN) && !out.includes('ghp_'), out);
  assert.ok(
    masked.some((p) => p.includes('readinessProbe')) && masked.some((p) => p.includes('startupProbe')),
    masked.join(' '),
  );
});
