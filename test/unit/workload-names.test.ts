/**
 * The names of the workload fields (src/validate/workload.ts) made of parts: a DNS subdomain of
 * dotted labels (pull secrets, service accounts, a label key's prefix), a label key's
 * `[prefix/]name`, and the token env variable checked against the step's own env (issue 15 item 6:
 * the mutants `workload-contract.test.ts` let live).
 *
 * The class of fault: a name pattern whose optional tail was made mandatory, so that a label of one
 * character is refused in one position only (`a.b`, `p/a`, `a.b/c`); a check that an optional value
 * is present dropped, so that its absence is read as a name (`Object.hasOwn(env, undefined)` finds a
 * variable called "undefined"). Variants: one-character labels first, in the middle and last, every
 * subdomain built from generated labels (fast-check), each with a bad character at a generated
 * place; the token env rule with and without a name, against an env holding "undefined".
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { validate } from '../../src/validate/validate.ts';
import { labelKeyProblem } from '../../src/validate/workload.ts';

const STEP = 'workflow.steps.0';
const SUBDOMAIN = 'must be a DNS subdomain: lower-case letters, digits, "-" and ".", starting and ending alphanumeric';
const PREFIX = 'the prefix must be a DNS subdomain';

/** The outcome of a workflow whose one step has these fields: 'ok', or the refusal's code and first issue. */
function outcome(fields: Record<string, unknown>): 'ok' | { code: string; path?: string; message?: string } {
  const r = validate({
    id: 'w',
    name: 'w',
    runId: 'r1',
    steps: [{ name: 's', image: 'x:1', ...fields }],
  });
  if (r.ok) return 'ok';
  const first = r.error.details?.issues[0];
  return { code: r.error.code, path: first?.path, message: first?.message };
}

/** A DNS label of 1 to 6 characters: alphanumeric at both ends, "-" allowed inside. */
const label = fc
  .tuple(
    fc.constantFrom(...'abz09'),
    fc.array(fc.constantFrom(...'a-9'), { maxLength: 4 }),
    fc.option(fc.constantFrom(...'b8'), { nil: undefined }),
  )
  .map(([first, middle, last]) => (last === undefined ? first : `${first}${middle.join('')}${last}`));
/** A DNS subdomain of 1 to 5 such labels (at most 34 characters). */
const subdomain = fc.array(label, { minLength: 1, maxLength: 5 }).map((labels) => labels.join('.'));

describe('workload names: a DNS subdomain', () => {
  test('a label of one character is accepted first, in the middle and last', () => {
    for (const name of ['a', 'a.b', 'ab.c', 'a.bc', 'a.b.c', 'a0.b.c1', 'x.y-z.0']) {
      assert.equal(outcome({ imagePullSecrets: [name] }), 'ok', name);
      assert.equal(outcome({ serviceAccount: name }), 'ok', name);
      assert.equal(outcome({ serviceAccount: { name, token: { audience: 'a' } } }), 'ok', name);
    }
  });

  test('every subdomain of generated labels is accepted; a bad character anywhere is refused (fast-check)', () => {
    fc.assert(
      fc.property(subdomain, (name) => assert.equal(outcome({ imagePullSecrets: ['ok', name] }), 'ok')),
      { numRuns: 150 },
    );
    fc.assert(
      fc.property(subdomain, fc.nat(), fc.constantFrom('A', '_', ' ', '/', 'é'), (name, at, bad) => {
        const i = at % (name.length + 1);
        assert.deepEqual(outcome({ imagePullSecrets: ['ok', `${name.slice(0, i)}${bad}${name.slice(i)}`] }), {
          code: 'VALIDATE_SCHEMA',
          path: `${STEP}.imagePullSecrets.1`,
          message: SUBDOMAIN,
        });
      }),
      { numRuns: 150 },
    );
  });
});

describe('workload names: a label key [prefix/]name', () => {
  test('a prefix with a label of one character, first, in the middle or last', () => {
    for (const key of ['p/a', 'a.b/c', 'ab.c/d', 'a.bc/d', 'a.b.c/d', 'x.y-z.0/n']) {
      assert.equal(labelKeyProblem(key), undefined, key);
      assert.equal(outcome({ tolerations: [{ key, effect: 'NoSchedule' }] }), 'ok', key);
      assert.equal(outcome({ nodeSelector: { [key]: 'v' } }), 'ok', key);
    }
  });

  test('every generated subdomain is a prefix; a bad character in it is refused at the toleration key (fast-check)', () => {
    fc.assert(
      fc.property(subdomain, (prefix) => assert.equal(labelKeyProblem(`${prefix}/name`), undefined)),
      { numRuns: 150 },
    );
    fc.assert(
      fc.property(subdomain, fc.nat(), fc.constantFrom('A', '_', ' ', '..'), (prefix, at, bad) => {
        const i = at % (prefix.length + 1);
        const key = `${prefix.slice(0, i)}${bad}${prefix.slice(i)}/name`;
        assert.equal(labelKeyProblem(key), PREFIX, key);
        assert.deepEqual(outcome({ tolerations: [{ key, effect: 'NoSchedule' }] }), {
          code: 'VALIDATE_SCHEMA',
          path: `${STEP}.tolerations.0.key`,
          message: PREFIX,
        });
      }),
      { numRuns: 150 },
    );
  });

  test('an empty prefix or name, and a prefix one past 253 characters, each with its own message', () => {
    const NAME = 'the name part must be 1-63 letters, digits, "-", "_" or ".", starting and ending alphanumeric';
    const rows: [string, string][] = [
      ['/a', PREFIX],
      ['/', NAME],
      ['a/', NAME],
      [`${'p'.repeat(254)}/a`, PREFIX],
      [`${'p.'.repeat(126)}pq/a`, PREFIX],
      ['a//b', 'must be [prefix/]name with at most one "/"'],
    ];
    for (const [key, message] of rows)
      assert.deepEqual(
        outcome({ tolerations: [{ key, effect: 'NoSchedule' }] }),
        { code: 'VALIDATE_SCHEMA', path: `${STEP}.tolerations.0.key`, message },
        key,
      );
    assert.equal(outcome({ tolerations: [{ key: `${'p.'.repeat(126)}p/a`, effect: 'NoSchedule' }] }), 'ok');
  });
});

describe('workload names: the token env variable against the step env', () => {
  const token = (env?: string) => ({ name: 'sa', token: { audience: 'a', ...(env === undefined ? {} : { env }) } });

  test('a token without an env variable does not collide with a step variable called "undefined"', () => {
    assert.equal(outcome({ serviceAccount: token(), env: { undefined: 'x' } }), 'ok');
    assert.equal(outcome({ serviceAccount: 'sa', env: { undefined: 'x' } }), 'ok');
    assert.equal(outcome({ serviceAccount: token('TOKEN_FILE'), env: { undefined: 'x' } }), 'ok');
  });

  test('a token env variable the step env already sets is refused at serviceAccount.token.env', () => {
    for (const name of ['undefined', 'TOKEN_FILE', '_'])
      assert.deepEqual(
        outcome({ serviceAccount: token(name), env: { A: '1', [name]: 'x' } }),
        {
          code: 'VALIDATE_SCHEMA',
          path: `${STEP}.serviceAccount.token.env`,
          message: `env variable "${name}" is already set by the step's env`,
        },
        name,
      );
  });
});
