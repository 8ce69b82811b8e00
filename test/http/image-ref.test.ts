/**
 * Issue 14 §2 (validate part), through the real HTTP server and the real file audit log with a
 * correctly signed assignment: an image reference outside the distribution grammar, in the step,
 * a sidecar or an init container, is refused at the door with 422 VALIDATE_IMAGE_REFERENCE and the
 * path; no WorkflowRun exists afterwards (it would only have failed at the kubelet), the refusal
 * is in the audit log, /ready stays 200. The whole table of spellings is in
 * test/unit/validate-image.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { openDoor, type Door } from '../support/door.ts';

const step = { name: 'analyze', image: 'python:3.11-slim' };

const CASES: [string, Record<string, unknown>, string][] = [
  [
    'an upper-case repository component in the step',
    { steps: [{ ...step, image: 'docker.io/Library/alpine:3' }] },
    'workflow.steps.0.image',
  ],
  [
    'a ".." path component in a sidecar',
    { steps: [{ ...step, sidecars: [{ name: 'db', image: 'ghcr.io/acme/../postgres:15' }] }] },
    'workflow.steps.0.sidecars.0.image',
  ],
  [
    'a malformed digest in an init container',
    { steps: [{ ...step, initContainers: [{ name: 'fetch', image: `amazon/aws-cli@sha256:${'0'.repeat(63)}` }] }] },
    'workflow.steps.0.initContainers.0.image',
  ],
  ['a tag over 128 characters', { steps: [{ ...step, image: `python:${'3'.repeat(129)}` }] }, 'workflow.steps.0.image'],
];

describe('invalid image references are refused at the door (real HTTP server, real audit file)', () => {
  let door: Door;
  before(async () => {
    door = await openDoor(step);
  });
  after(() => door.close());

  for (const [what, over, path] of CASES) {
    test(`${what} → 422 VALIDATE_IMAGE_REFERENCE at ${path}, no WorkflowRun, /ready 200`, async () => {
      const before = door.runs.list().length;
      const res = await door.post(over);
      const body = (await res.json()) as { code: string; message: string };
      assert.equal(res.status, 422, JSON.stringify(body));
      assert.equal(body.code, 'VALIDATE_IMAGE_REFERENCE');
      assert.ok(body.message.includes(`first at ${path}:`), `expected ${path} in ${body.message}`);
      assert.equal(door.runs.list().length, before, 'no WorkflowRun for a refused assignment');
      assert.equal((await fetch(`${door.base}/ready`)).status, 200);
    });
  }

  test('afterwards: a valid assignment is accepted, and the audit chain verifies with each refusal in it', async () => {
    const ok = await door.post({
      steps: [
        {
          ...step,
          sidecars: [{ name: 'db', image: 'postgres:15' }],
          initContainers: [{ name: 'fetch', image: `amazon/aws-cli@sha256:${'0'.repeat(64)}` }],
        },
      ],
    });
    assert.equal(ok.status, 202);
    assert.equal(door.runs.list().length, 1);
    const report = await door.auditLines();
    assert.equal(report.ok, true, JSON.stringify(report.firstBad));
    const text = report.lines.join('\n');
    assert.equal(
      text.split('\n').filter((l) => l.includes('"VALIDATE_IMAGE_REFERENCE"')).length,
      CASES.length,
      'one validate record per refusal',
    );
  });
});
