import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { test } from 'node:test';
import { readWorkflowFile } from '../../src/dev/workflow-file.ts';
import { validate } from '../../src/validate/validate.ts';

const step = { name: 'analyze', image: 'python:3.11-slim' };
const wf = (over: Record<string, unknown>) => ({ id: 'wf-1', name: 'n', runId: 'run-1', steps: [step], ...over });

test('every example workflow under examples/ is valid', async () => {
  const dir = new URL('../../examples/', import.meta.url);
  const files = (await readdir(dir)).filter((f) => f.endsWith('.yaml'));
  assert.ok(files.length >= 7);
  for (const f of files) {
    const r = validate(await readWorkflowFile(new URL(f, dir).pathname));
    assert.ok(r.ok, `${f}: ${r.ok ? '' : JSON.stringify(r.error.details)}`);
  }
});

const rejects: [string, unknown, string][] = [
  ['unknown key on a step (strict)', wf({ steps: [{ ...step, privileged: true }] }), 'workflow.steps.0'],
  ['unknown top-level key', wf({ hostNetwork: true }), 'workflow'],
  ['no steps', wf({ steps: [] }), 'workflow.steps'],
  ['step name not a DNS label', wf({ steps: [{ ...step, name: 'Bad_Name' }] }), 'workflow.steps.0.name'],
  ['image with whitespace', wf({ steps: [{ ...step, image: 'python 3' }] }), 'workflow.steps.0.image'],
  ['duplicate step names', wf({ steps: [step, step] }), 'workflow.steps.1.name'],
  ['dependsOn an unknown step', wf({ steps: [{ ...step, dependsOn: ['nope'] }] }), 'workflow.steps.0.dependsOn.0'],
  ['mount of an undeclared volume', wf({ steps: [{ ...step, volumes: [{ name: 'd', mount: '/d', volume: 'x' }] }] }), 'workflow.steps.0.volumes.0.volume'],
  ['relative mount path', wf({ volumes: [{ name: 'v', size: '1Gi' }], steps: [{ ...step, volumes: [{ name: 'd', mount: 'data', volume: 'v' }] }] }), 'workflow.steps.0.volumes.0.mount'],
  ['mount path with ..', wf({ volumes: [{ name: 'v', size: '1Gi' }], steps: [{ ...step, volumes: [{ name: 'd', mount: '/a/../etc', volume: 'v' }] }] }), 'workflow.steps.0.volumes.0.mount'],
  ['bad quantity', wf({ steps: [{ ...step, resources: { limits: { memory: 'lots' } } }] }), 'workflow.steps.0.resources.limits.memory'],
  ['env name not an identifier', wf({ steps: [{ ...step, env: { 'A-B': 'x' } }] }), 'workflow.steps.0.env.A-B'],
  ['too many steps', wf({ steps: Array.from({ length: 65 }, (_, i) => ({ ...step, name: `s${i}` })) }), 'workflow.steps'],
  ['not an object', 'a string', 'workflow'],
];
for (const [name, claim, path] of rejects) {
  test(`validate rejects ${name} at ${path}`, () => {
    const r = validate(claim);
    assert.equal(r.ok, false);
    if (!r.ok) {
      assert.equal(r.error.code, 'VALIDATE_SCHEMA');
      const issues = (r.error.details as { issues: { path: string }[] }).issues;
      assert.ok(issues.some((i) => i.path === path), `expected an issue at ${path}, got ${JSON.stringify(issues)}`);
    }
  });
}
