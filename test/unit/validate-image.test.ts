/**
 * Issue 14 §2 (validate part): an image reference that is not valid by the distribution grammar is
 * refused at the door — 422 VALIDATE_IMAGE_REFERENCE with the path — for every container kind
 * (the step, a sidecar, an init container), so it never becomes a WorkflowRun and never fails
 * later at the kubelet. The class is the whole reference table (test/support/image-refs.ts, the
 * one the TypeScript and Rego parsers share): every spelling valid there passes validate in every
 * position, every invalid one is refused in every position, with the parser's reason and without
 * repeating the text.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ERROR_CATALOGUE } from '../../src/errors/codes.ts';
import { validate } from '../../src/validate/validate.ts';
import { REF_CASES } from '../support/image-refs.ts';

const R = { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } };
const POSITIONS: [string, (image: string) => Record<string, unknown>, string][] = [
  ['step', (image) => ({ name: 's', image, resources: R }), 'workflow.steps.0.image'],
  [
    'sidecar',
    (image) => ({
      name: 's',
      image: 'python:3.11',
      sidecars: [
        { name: 'ok', image: 'postgres:15' },
        { name: 'db', image },
      ],
    }),
    'workflow.steps.0.sidecars.1.image',
  ],
  [
    'init container',
    (image) => ({ name: 's', image: 'python:3.11', initContainers: [{ name: 'fetch', image }] }),
    'workflow.steps.0.initContainers.0.image',
  ],
];

/** What the schema refuses before the grammar is asked (VALIDATE_SCHEMA): empty, whitespace, over 512 characters. */
const schemaRefuses = (ref: string) => ref === '' || /\s/.test(ref) || ref.length > 512;

test('VALIDATE_IMAGE_REFERENCE is a 422 of the validate stage', () => {
  assert.deepEqual(ERROR_CATALOGUE.VALIDATE_IMAGE_REFERENCE, { status: 422, stage: 'validate' });
});

test('every reference of the shared table, in every container kind: valid → accepted; invalid → 422 VALIDATE_IMAGE_REFERENCE at its path', () => {
  let refused = 0;
  for (const c of REF_CASES) {
    for (const [where, stepWith, path] of POSITIONS) {
      const r = validate({ id: 'wf', name: 'n', runId: 'r', steps: [stepWith(c.ref)] });
      const what = `${where}: ${JSON.stringify(c.ref.slice(0, 80))}`;
      if (schemaRefuses(c.ref)) {
        assert.equal(r.ok, false, what);
        if (!r.ok) assert.equal(r.error.code, 'VALIDATE_SCHEMA', what);
      } else if (c.canonical === null) {
        assert.equal(r.ok, false, `${what} must be refused`);
        if (r.ok) continue;
        refused++;
        assert.equal(r.error.code, 'VALIDATE_IMAGE_REFERENCE', what);
        const issues = r.error.details?.issues ?? [];
        assert.deepEqual(
          issues.map((i) => i.path),
          [path],
          what,
        );
        if (c.ref.length > 3)
          assert.ok(
            !r.error.message.includes(c.ref) && !issues[0]!.message.includes(c.ref),
            `${what}: the text is not repeated`,
          );
      } else {
        assert.ok(r.ok, `${what} must be accepted: ${JSON.stringify(!r.ok && r.error)}`);
      }
    }
  }
  assert.ok(refused >= 3 * 10, `${refused} refusals`);
});

test('the reported examples: upper-case repository, ".." component, malformed digest, over-long tag; each invalid image is listed', () => {
  const bad = [
    'docker.io/Library/alpine:3',
    'ghcr.io/acme/../x:1',
    `alpine@sha256:${'A'.repeat(64)}`,
    `alpine:${'t'.repeat(129)}`,
  ];
  const r = validate({ id: 'wf', name: 'n', runId: 'r', steps: bad.map((image, i) => ({ name: `s${i}`, image })) });
  assert.equal(r.ok, false);
  if (!r.ok) {
    assert.equal(r.error.code, 'VALIDATE_IMAGE_REFERENCE');
    assert.deepEqual(
      (r.error.details?.issues ?? []).map((i) => i.path),
      bad.map((_, i) => `workflow.steps.${i}.image`),
    );
  }
});
