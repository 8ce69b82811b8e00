import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { signAssignment } from '../../src/dev/sign.ts';
import { engineReturning } from '../support/memory.ts';
import { allowAll, allowWithEgress, memoryRunner } from '../support/memory-runner.ts';
import { ISSUER, NOW, RUNNER, testKeys, workflow } from '../support/tokens.ts';

/**
 * CPU per audit record (issue 20 §2): canonical JSON (src/audit/canonical.ts) copies every object
 * whose members are not in UTF-16 code-unit order before hashing it, so the objects the runner
 * builds for its records are built in that order. The class: an object of the runner's own making
 * in a record (not the user's step, not the pod the Kubernetes client models, not a violation as
 * the policy's decision schema orders it). The table lists where each one is, per stage; a member
 * added out of order to any of them fails here. What is written is unchanged either way (the
 * canonical form sorts), which test/unit/audit-append-bytes.test.ts proves for the appender.
 */
const OWN_OBJECTS: readonly { readonly stage: string; readonly pointers: readonly string[] }[] = [
  { stage: 'verify', pointers: ['/workflow', '/labels'] },
  { stage: 'validate', pointers: ['/workflow', '/labels'] },
  { stage: 'claim', pointers: ['/workflow', '/labels'] },
  { stage: 'cancel', pointers: ['/workflow', '/labels'] },
  { stage: 'evaluate', pointers: ['/workflow', '/input', '/input/workflow', '/result', '/bundles', '/metrics'] },
  { stage: 'mutate', pointers: ['/workflow', '/bundles'] },
  { stage: 'create', pointers: ['/workflow', '/pod'] },
  { stage: 'finish', pointers: ['/workflow', '/pod'] },
];

const { key, keys } = await testKeys();
const closers: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of closers) await c();
});

const at = (record: unknown, pointer: string): unknown =>
  pointer
    .split('/')
    .slice(1)
    .reduce<unknown>((v, k) => (v as Record<string, unknown> | undefined)?.[k], record);

const outOfOrder = (o: object): string | undefined => {
  const ks = Object.keys(o);
  for (let i = 1; i < ks.length; i++) if ((ks[i - 1] as string) >= (ks[i] as string)) return `${ks[i - 1]} ≥ ${ks[i]}`;
  return undefined;
};

describe('the objects the runner builds for audit records have their members in code-unit order', () => {
  const engines = [
    ['an allow', allowAll],
    ['an allow granting egress', allowWithEgress],
    [
      'a deny',
      engineReturning(() => [
        {
          result: {
            allow: false,
            violations: [{ code: 'IMAGE_DENIED', message: 'no', path: 'step.image', policy: 'images', action: 'deny' }],
          },
        },
      ]),
    ],
    [
      'an inconsistent decision (an evaluation error)',
      engineReturning(() => [{ result: { allow: false, violations: [] } }]),
    ],
  ] as const;
  for (const [name, engine] of engines)
    test(`${name}: every record's own objects, at every stage`, async () => {
      const r = await memoryRunner({ keys, policy: () => engine });
      closers.push(r.close);
      const wf = workflow([{ name: 'one', image: 'python:3.11', env: { TOKEN: 'x' } }]);
      await r.run({
        body: await signAssignment(key, { issuer: ISSUER, audience: RUNNER, workflow: wf, now: NOW, jti: 'jti-order' }),
        contentType: 'application/jwt',
      });
      const records = r.deps.audit.records;
      assert.ok(records.some((x) => x.stage === 'evaluate'));
      let checked = 0;
      for (const record of records) {
        const row = OWN_OBJECTS.find((o) => o.stage === record.stage);
        assert.ok(row !== undefined, `a row for stage ${record.stage}`);
        for (const pointer of row.pointers) {
          const v = at(record, pointer);
          if (typeof v !== 'object' || v === null) continue;
          assert.equal(outOfOrder(v), undefined, `${record.stage} ${pointer}`);
          checked++;
        }
      }
      assert.ok(checked >= records.length, `${checked} objects checked in ${records.length} records`);
    });
});
