import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { V1Pod } from '@kubernetes/client-node';
import { buildPod } from '../../src/pod/build.ts';
import { runsText } from '../../src/validate/unicode.ts';
import { validate } from '../../src/validate/validate.ts';
import { execStrings } from '../support/exec-strings.ts';
import { STEP_RESOURCES as R, TEST_POD_CONTEXT as ctx } from '../support/pod-context.ts';

/**
 * REDTEAM-3 finding 1, as a class: every string that a container executes — command, args, plain
 * env values, probe exec commands, any lifecycle/exec field now or later, in the step, its sidecars
 * and its init containers — gets the same bidi validation. The reported example: U+202E in a
 * sidecar's readinessProbe.exec.command was allowed while the same text in `command` was refused.
 * The last test works from the BUILT pod: every exec string in it must come from a place the
 * validator checks, so a field the pod builder starts rendering cannot slip past.
 */
const BIDI = [
  '\u202a',
  '\u202b',
  '\u202c',
  '\u202d',
  '\u202e',
  '\u2066',
  '\u2067',
  '\u2068',
  '\u2069',
  '\u200e',
  '\u200f',
  '\u061c',
];
/** Any text around the control (well-formed and NUL-free, so only the bidi rule can refuse it). */
const text = fc.string({ unit: 'binary' }).filter((s) => s.isWellFormed() && !s.includes('\0'));
const sidecar = (extra: Record<string, unknown>) => ({ name: 'pg', image: 'postgres:15', resources: R, ...extra });

/** Every exec position of the schema, with the path its issue is reported at. */
const POSITIONS: readonly { path: string; step: (w: string) => Record<string, unknown> }[] = [
  { path: 'command.2', step: (w) => ({ command: ['sh', '-c', w] }) },
  { path: 'args.0', step: (w) => ({ args: [w] }) },
  { path: 'env.A', step: (w) => ({ env: { A: w } }) },
  { path: 'sidecars.0.command.0', step: (w) => ({ sidecars: [sidecar({ command: [w] })] }) },
  { path: 'sidecars.0.args.0', step: (w) => ({ sidecars: [sidecar({ args: [w] })] }) },
  { path: 'sidecars.0.env.A', step: (w) => ({ sidecars: [sidecar({ env: { A: w } })] }) },
  {
    path: 'sidecars.0.readinessProbe.exec.command.2',
    step: (w) => ({ sidecars: [sidecar({ readinessProbe: { exec: { command: ['sh', '-c', w] } } })] }),
  },
  { path: 'initContainers.0.command.0', step: (w) => ({ initContainers: [sidecar({ name: 'dl', command: [w] })] }) },
  { path: 'initContainers.0.args.0', step: (w) => ({ initContainers: [sidecar({ name: 'dl', args: [w] })] }) },
  { path: 'initContainers.0.env.A', step: (w) => ({ initContainers: [sidecar({ name: 'dl', env: { A: w } })] }) },
];

function check(extra: Record<string, unknown>) {
  return validate({
    id: 'wf',
    name: 'n',
    runId: 'r',
    steps: [{ name: 's', image: 'python:3.11', resources: R, ...extra }],
  });
}

test('the reported example: U+202E in a sidecar readiness probe is refused, as in command', () => {
  const r = check({
    sidecars: [sidecar({ readinessProbe: { exec: { command: ['sh', '-c', 'echo ok \u202e# harmless'] } } })],
  });
  const viaCommand = check({ command: ['sh', '-c', 'echo ok \u202e# harmless'] });
  assert.ok(!r.ok && !viaCommand.ok);
  assert.equal(r.error.code, viaCommand.error.code, 'the same refusal as in command');
  assert.match(r.error.message, /readinessProbe\.exec\.command\.2.*bidirectional formatting/);
  assert.ok(check({ sidecars: [sidecar({ readinessProbe: { exec: { command: ['pg_isready'] } } })] }).ok);
});

test(`every exec position × every bidi control (${POSITIONS.length} × ${BIDI.length}, fast-check placement) is refused at its path`, () => {
  fc.assert(
    fc.property(fc.constantFrom(...POSITIONS), fc.constantFrom(...BIDI), text, text, (p, b, pre, post) => {
      const word = `${pre}${b}${post}`;
      const r = check(p.step(word));
      assert.ok(!r.ok, `${p.path} ${JSON.stringify(word)}`);
      assert.ok(r.error.message.includes(`workflow.steps.0.${p.path}`), r.error.message);
      assert.ok(runsText(`workflow.steps.0.${p.path}`));
    }),
    { numRuns: 300, seed: 19 },
  );
});

test('not what runs: names and other text stay outside the exec rule (no over-reach)', () => {
  for (const path of [
    'workflow.name',
    'workflow.steps.0.name',
    'workflow.steps.0.image',
    'workflow.steps.0.env.A.secretRef.secret',
    'workflow.steps.0.when',
  ])
    assert.equal(runsText(path), false, path);
  for (const path of [
    'workflow.steps.0.sidecars.1.lifecycle.postStart.exec.command.0',
    'workflow.steps.3.initContainers.0.env.X',
  ])
    assert.equal(runsText(path), true, path);
});

test('every exec string of the built pod comes from a place the validator checks: a bidi control there is refused', () => {
  // A step with a distinct marker in every exec position; the pod is built from it, and every exec
  // string found in the pod (by walking it, not by listing fields) is traced back to its markers.
  const markers = POSITIONS.map((_, i) => `m${i}x`);
  const step = Object.assign({}, ...POSITIONS.map((p, i) => p.step(markers[i]!))) as Record<string, unknown>;
  step.sidecars = POSITIONS.flatMap((p, i) => (p.step(markers[i]!).sidecars as unknown[]) ?? []);
  step.sidecars = [Object.assign({}, ...(step.sidecars as object[]))];
  step.initContainers = [
    Object.assign({}, ...POSITIONS.flatMap((p, i) => (p.step(markers[i]!).initContainers as object[]) ?? [])),
  ];
  const wf = check(step);
  assert.ok(wf.ok, JSON.stringify(!wf.ok && wf.error));
  const pod: V1Pod = buildPod(wf.value, wf.value.steps[0]!, ctx);
  const found = execStrings(pod).filter((s) => markers.some((m) => s.value.includes(m)));
  assert.ok(
    found.some((s) => s.path.includes('startupProbe')),
    'the probe reaches the pod twice',
  );
  for (const s of found) {
    const i = markers.findIndex((m) => s.value.includes(m));
    const planted = JSON.parse(JSON.stringify(step).replaceAll(markers[i]!, `${markers[i]!}\\u202e`)) as typeof step;
    const r = check(planted);
    assert.ok(!r.ok, `${s.path} (${markers[i]!}) reached the pod without the bidi check`);
  }
  assert.equal(new Set(found.map((s) => markers.findIndex((m) => s.value.includes(m)))).size, markers.length);
});
