/**
 * Issue 14 §5 (validate part), through the real HTTP server, the real file audit log and a
 * correctly signed assignment: ill-formed Unicode anywhere in the workflow claim — a lone UTF-16
 * surrogate in a key or a value, at any depth — is refused at the door with 422 VALIDATE_UNICODE and
 * the path; no WorkflowRun exists afterwards, the refusal is in the audit log (whose chain stays
 * intact), and /ready still answers 200. Reported example: `\udbff` alone in a step argument gave
 * 503 AUDIT_UNAVAILABLE, a WorkflowRun with no status, and /ready 503 from then on.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { openDoor, type Door } from '../support/door.ts';

const step = { name: 'analyze', image: 'python:3.11-slim' };

const CASES: [string, Record<string, unknown>, string][] = [
  [
    'the reported example: a lone high surrogate alone in a step argument',
    { steps: [{ ...step, args: ['\udbff'] }] },
    'workflow.steps.0.args.0',
  ],
  [
    'a lone low surrogate inside a command word',
    { steps: [{ ...step, command: ['echo', 'a\udc00b'] }] },
    'workflow.steps.0.command.1',
  ],
  ['a reversed pair (low then high)', { steps: [{ ...step, args: ['\udc00\ud800'] }] }, 'workflow.steps.0.args.0'],
  ['an env value', { steps: [{ ...step, env: { A: 'x\ud800' } }] }, 'workflow.steps.0.env.A'],
  ['an env key', { steps: [{ ...step, env: { ['K\udbff']: 'v' } }] }, 'workflow.steps.0.env.K\\udbff'],
  [
    'a sidecar env value, nested',
    { steps: [{ ...step, sidecars: [{ name: 'db', image: 'postgres:15', env: { P: '\udfff' } }] }] },
    'workflow.steps.0.sidecars.0.env.P',
  ],
  ['the workflow display name', { name: 'report \udbff' }, 'workflow.name'],
  ['an unknown key (refused for its text before the schema)', { ['x\udbff']: 1 }, 'workflow.x\\udbff'],
  [
    'a secret reference key',
    { steps: [{ ...step, env: { P: { secretRef: { secret: 'db', key: 'k\udc01' } } } }] },
    'workflow.steps.0.env.P.secretRef.key',
  ],
  [
    'a NUL in an argument (argv is C strings: the process would see less than the policy)',
    { steps: [{ ...step, args: ['rm -rf /safe\u0000/../'] }] },
    'workflow.steps.0.args.0',
  ],
  ['a bidi override in the display name (Trojan Source)', { name: 'deploy \u202eved\u202c' }, 'workflow.name'],
  [
    'a bidi isolate in an argument (Trojan Source in what runs)',
    { steps: [{ ...step, args: ['rm -rf /tmp/x \u2066# keep\u2069'] }] },
    'workflow.steps.0.args.0',
  ],
  [
    'a bidi override in a sidecar env value',
    { steps: [{ ...step, sidecars: [{ name: 'db', image: 'postgres:15', env: { MODE: '\u202eabc' } }] }] },
    'workflow.steps.0.sidecars.0.env.MODE',
  ],
];

describe('ill-formed Unicode is refused at the door (real HTTP server, real audit file)', () => {
  let door: Door;
  before(async () => {
    door = await openDoor(step);
  });
  after(() => door.close());

  for (const [what, over, path] of CASES) {
    test(`${what} → 422 VALIDATE_UNICODE at ${path}, no WorkflowRun, /ready 200`, async () => {
      const before = door.runs.list().length;
      const res = await door.post(over);
      const body = (await res.json()) as { code: string; message: string };
      assert.equal(res.status, 422, JSON.stringify(body));
      assert.equal(body.code, 'VALIDATE_UNICODE');
      assert.ok(body.message.includes(`first at ${path}:`), `expected ${path} in ${body.message}`);
      assert.equal(JSON.stringify(body).isWellFormed(), true);
      assert.equal(door.runs.list().length, before, 'no WorkflowRun for a refused assignment');
      assert.equal((await fetch(`${door.base}/ready`)).status, 200);
    });
  }

  test('afterwards: a valid assignment is still accepted, nothing was created for the refused ones, and the audit chain verifies with each refusal in it', async () => {
    const ok = await door.post({});
    assert.equal(ok.status, 202);
    assert.equal(door.runs.list().length, 1);
    assert.equal((await fetch(`${door.base}/ready`)).status, 200);
    const report = await door.auditLines();
    assert.equal(report.ok, true, JSON.stringify(report.firstBad));
    const text = report.lines.join('\n');
    const refusals = text.split('\n').filter((l) => l.includes('"VALIDATE_UNICODE"'));
    assert.equal(refusals.length, CASES.length, 'one validate record per refusal');
    assert.equal(door.pods.created.length <= 1, true);
  });
});
