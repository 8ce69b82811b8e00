/**
 * The step fields of issue 19 §4–§6 in the workflow schema (src/validate/schema.ts: `retries`,
 * `when`, `outputs`), each bound at its edge and one past it, each rule with its message and
 * path (issue 15 item 6: `validate-contract.test.ts` covers the older fields the same way).
 *
 * The class of fault: a bound off by one (an eleventh retry, a factor of 5, a condition of 1025
 * characters, a seventeenth output, an output name of 64 characters), a pattern that lets a name
 * through that the substitution cannot reference, two outputs of one name (the second would
 * silently win), a condition refused without the parser's reason, or an unknown key accepted.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { validate } from '../../src/validate/validate.ts';

const STEP = 'workflow.steps.0';

/** The issues of a workflow whose one step has these fields ([] when it is valid). */
function issues(fields: Record<string, unknown>): { path: string; message: string }[] {
  const r = validate({ id: 'w', name: 'w', runId: 'r1', steps: [{ name: 's', image: 'x:1', ...fields }] });
  if (r.ok) return [];
  assert.equal(r.error.code, 'VALIDATE_SCHEMA', r.error.message);
  return [...(r.error.details?.issues ?? [])];
}

const accepted = (fields: Record<string, unknown>): void =>
  assert.deepEqual(issues(fields), [], JSON.stringify(fields).slice(0, 200));

/** Refused, the first issue at `path` (and with `message` when given). */
function refusedAt(fields: Record<string, unknown>, path: string, message?: string): void {
  const found = issues(fields);
  assert.ok(found.length > 0, `accepted: ${JSON.stringify(fields).slice(0, 200)}`);
  assert.equal(found[0]?.path, path, JSON.stringify(found));
  if (message !== undefined) assert.equal(found[0]?.message, message);
}

describe('retries: 0 to 10 more attempts, a factor of 1 to 4, a backoff duration', () => {
  test('each bound at its edge and one past', () => {
    for (const retries of [
      { limit: 0 },
      { limit: 10 },
      { limit: 1, factor: 1 },
      { limit: 1, factor: 4 },
      { limit: 1, backoff: '1s' },
      { limit: 1, backoff: 30, factor: 2 },
    ])
      accepted({ retries });
    const rows: [Record<string, unknown>, string][] = [
      [{ limit: -1 }, 'limit'],
      [{ limit: 11 }, 'limit'],
      [{ limit: 1.5 }, 'limit'],
      [{}, 'limit'],
      [{ limit: 1, factor: 0 }, 'factor'],
      [{ limit: 1, factor: 5 }, 'factor'],
      [{ limit: 1, factor: 1.5 }, 'factor'],
      [{ limit: 1, backoff: '0s' }, 'backoff'],
      [{ limit: 1, backoff: 'soon' }, 'backoff'],
    ];
    for (const [retries, field] of rows) refusedAt({ retries }, `${STEP}.retries.${field}`);
    refusedAt({ retries: { limit: 1, jitter: true } }, `${STEP}.retries`);
  });
});

describe('when: 1 to 1024 characters of the condition grammar', () => {
  test('the length bounds', () => {
    accepted({ when: 'true' });
    accepted({ when: `true${' '.repeat(1020)}` });
    refusedAt({ when: '' }, `${STEP}.when`);
    refusedAt({ when: `true${' '.repeat(1021)}` }, `${STEP}.when`);
  });

  test("a text the grammar refuses: the parser's reason after “not a condition”", () => {
    for (const [when, reason] of [
      ['steps.x.phase', 'expected ==, !=, in or notin at the end'],
      ['true &&', 'expected steps.<name>.phase, steps.<name>.outputs.<key> or a quoted string at the end'],
      ['1 == 1', 'unexpected input at 0: "1 == 1"'],
    ])
      refusedAt({ when }, `${STEP}.when`, `not a condition: ${reason}`);
  });
});

describe('outputs: at most 16, each a unique C identifier of 1 to 63 characters', () => {
  const outs = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `o${i}` }));
  test('the count and the name length', () => {
    accepted({ outputs: [] });
    accepted({ outputs: outs(16) });
    accepted({
      outputs: [{ name: `_${'a9Z'.repeat(20)}_b` }, { name: 'x', secret: true }, { name: 'y', secret: false }],
    });
    refusedAt({ outputs: outs(17) }, `${STEP}.outputs`);
    refusedAt({ outputs: [{ name: 'a'.repeat(64) }] }, `${STEP}.outputs.0.name`);
    refusedAt({ outputs: [{ name: '' }] }, `${STEP}.outputs.0.name`);
  });

  test('a name is a C identifier: anchored at both ends', () => {
    for (const name of ['1a', 'a-b', 'a b', '-a', 'a-', 'é', 'a.b'])
      refusedAt({ outputs: [{ name }] }, `${STEP}.outputs.0.name`, 'must be a C identifier');
  });

  test('names are unique; secret is a boolean; no other key', () => {
    refusedAt(
      { outputs: [{ name: 'a' }, { name: 'b' }, { name: 'a' }] },
      `${STEP}.outputs`,
      'output names must be unique',
    );
    refusedAt({ outputs: [{ name: 'a', secret: 'yes' }] }, `${STEP}.outputs.0.secret`);
    refusedAt({ outputs: [{ name: 'a', value: 'x' }] }, `${STEP}.outputs.0`);
  });
});

describe('the rules that span a step’s fields: each issue at the field it is about', () => {
  const R = { requests: { memory: '2Gi' }, limits: { memory: '1Gi' } };
  test('a request above its limit, on the step and on each kind of container, at that container’s path', () => {
    const message = 'the memory request is above its limit (1Gi)';
    refusedAt({ resources: R }, `${STEP}.resources.requests.memory`, message);
    refusedAt(
      { initContainers: [{ name: 'i', image: 'x:1', resources: R }] },
      `${STEP}.initContainers.0.resources.requests.memory`,
      message,
    );
    refusedAt(
      {
        sidecars: [
          { name: 'a', image: 'x:1' },
          { name: 'b', image: 'x:1', resources: R },
        ],
      },
      `${STEP}.sidecars.1.resources.requests.memory`,
      message,
    );
  });

  test('a request at or below its limit, or with no limit, or a limit of zero (none), is accepted', () => {
    for (const resources of [
      { requests: { memory: '1Gi', cpu: '100m' }, limits: { memory: '1Gi', cpu: '1' } },
      { requests: { memory: '512Mi' }, limits: { memory: '1Gi' } },
      { requests: { memory: '2Gi' }, limits: { cpu: '1' } },
      { requests: { memory: '2Gi' }, limits: { memory: '0' } },
    ]) {
      accepted({ resources });
      accepted({ sidecars: [{ name: 'a', image: 'x:1', resources }] });
    }
  });

  test('a mount at the same path as the first one: named, at the second', () => {
    const wf = {
      id: 'w',
      name: 'w',
      runId: 'r1',
      volumes: [{ name: 'data', size: '1Gi' }],
      steps: [
        {
          name: 's',
          image: 'x:1',
          volumes: [
            { name: 'a', mount: '/data', volume: 'data' },
            { name: 'b', mount: '/data/', volume: 'data' },
          ],
        },
      ],
    };
    const r = validate(wf);
    assert.ok(!r.ok);
    assert.deepEqual(r.error.details?.issues, [
      { path: `${STEP}.volumes.1.mount`, message: 'the same path as the mount of volumes[0]' },
    ]);
  });
});
