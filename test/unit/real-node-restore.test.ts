import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { appliedChanges, type AppliedChanges, type HostState } from '../../src/dev/node/host-state.ts';
import { removeOutsidePaths, restoreSysctls } from '../../src/dev/node/host-restore.ts';
import { EMPTY_HOST } from '../support/host-state.ts';

/** A sysctl tree in a temporary directory (`net.ipv4.ip_forward` → `<root>/net/ipv4/ip_forward`). */
function sysctlTree(root: string, values: Readonly<Record<string, string>>): void {
  for (const [key, value] of Object.entries(values)) {
    const parts = key.split('.');
    mkdirSync(join(root, ...parts.slice(0, -1)), { recursive: true });
    writeFileSync(join(root, ...parts), value);
  }
}
const read = (root: string, key: string): string => readFileSync(join(root, ...key.split('.')), 'utf8');

/**
 * Red-team round 5, finding 8 (the open half): clearing a node left by an ended run restored the
 * host to its snapshot of any age, writing back sysctls others had changed since and removing
 * outside directories another runtime had created. The class: an unattended restore undoes only
 * what the node's record says it changed, and only where the host still holds what it left; an
 * attended `down` (the owner, an operator) restores every difference as before.
 */
describe('real node restore: an old record undoes only what the node changed', () => {
  const cases: [
    string,
    { before: string; set?: string; now: string; attended?: boolean },
    { value: string; left: boolean },
  ][] = [
    [
      'the node set it, nobody changed it since',
      { before: '0\n', set: '1\n', now: '1\n' },
      { value: '0\n', left: false },
    ],
    [
      'the node set it, another actor changed it since',
      { before: '0\n', set: '1\n', now: '2\n' },
      { value: '2\n', left: true },
    ],
    [
      'not set by the node (changed after its last record)',
      { before: '0\n', now: '3\n' },
      { value: '3\n', left: true },
    ],
    ['unchanged', { before: '5\n', set: '5\n', now: '5\n' }, { value: '5\n', left: false }],
    [
      "attended down (the owner's or an operator's): every difference restored",
      { before: '0\n', now: '2\n', attended: true },
      { value: '0\n', left: false },
    ],
  ];
  for (const [what, c, want] of cases)
    test(`sysctl: ${what}`, async () => {
      const root = await mkdtemp(join(tmpdir(), 'kubiya-sysctl-'));
      try {
        const key = 'net.ipv4.ip_forward';
        sysctlTree(root, { [key]: c.now });
        const applied: AppliedChanges = { sysctls: c.set !== undefined ? { [key]: c.set } : {}, paths: [] };
        const r = restoreSysctls({ [key]: c.before }, { [key]: c.now }, c.attended ? undefined : applied, root);
        assert.equal(read(root, key), want.value);
        assert.equal(r.left.length > 0, want.left, r.left.join('; '));
        for (const l of r.left) assert.match(l, /^sysctl net\.ipv4\.ip_forward: .*left as it is$/);
      } finally {
        await rm(root, { recursive: true, force: true });
      }
    });

  test('sysctl: over generated hosts, an unattended restore writes exactly the values the node left untouched', async () => {
    const value = fc.constantFrom('0\n', '1\n', '2\n');
    const entry = fc.record({ before: value, set: fc.option(value, { nil: undefined }), now: value });
    await fc.assert(
      fc.asyncProperty(fc.dictionary(fc.constantFrom('a.b', 'a.c', 'd.e', 'f.g.h'), entry), async (host) => {
        const root = await mkdtemp(join(tmpdir(), 'kubiya-sysctl-'));
        try {
          const before: Record<string, string> = {};
          const now: Record<string, string> = {};
          const sysctls: Record<string, string> = {};
          for (const [k, e] of Object.entries(host)) {
            before[k] = e.before;
            now[k] = e.now;
            if (e.set !== undefined && e.set !== e.before) sysctls[k] = e.set;
          }
          sysctlTree(root, now);
          const r = restoreSysctls(before, now, { sysctls, paths: [] }, root);
          for (const [k, e] of Object.entries(host)) {
            const ours = e.now !== e.before && sysctls[k] === e.now;
            assert.equal(read(root, k), ours ? e.before : e.now, k);
            assert.equal(
              r.left.some((l) => l.startsWith(`sysctl ${k}:`)),
              e.now !== e.before && !ours,
              k,
            );
          }
        } finally {
          await rm(root, { recursive: true, force: true });
        }
      }),
      { numRuns: 200 },
    );
  });

  test('outside directories: only those the node was recorded creating are removed unattended', async () => {
    const root = await mkdtemp(join(tmpdir(), 'kubiya-outside-'));
    try {
      const [had, created, since] = ['had', 'created', 'since'].map((d) => join(root, d)) as [string, string, string];
      for (const d of [had, created, since]) mkdirSync(d);
      const paths = [had, created, since, join(root, 'absent')];
      const left = await removeOutsidePaths([had], { sysctls: {}, paths: [created] }, paths);
      assert.deepEqual(
        [had, created, since].map((d) => existsSync(d)),
        [true, false, true],
      );
      assert.deepEqual(left, [`path ${since}: not recorded as created by the node: left as it is`]);
      assert.deepEqual(await removeOutsidePaths([had], undefined, paths), [], 'attended: every new one goes');
      assert.deepEqual(
        [had, since].map((d) => existsSync(d)),
        [true, false],
      );
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  test('appliedChanges: the values the node set now, and every directory it created (kept from earlier records)', () => {
    const before: HostState = { ...EMPTY_HOST, sysctls: { a: '0\n', b: '1\n', c: '2\n' }, paths: ['/p0'] };
    const first = appliedChanges(before, {
      ...before,
      sysctls: { a: '1\n', b: '1\n', c: '2\n' },
      paths: ['/p0', '/p1'],
    });
    assert.deepEqual(first, { sysctls: { a: '1\n' }, paths: ['/p1'] });
    const second = appliedChanges(
      before,
      { ...before, sysctls: { a: '1\n', b: '1\n', c: '9\n', d: '4\n' }, paths: ['/p0', '/p2'] },
      first,
    );
    assert.deepEqual(second, { sysctls: { a: '1\n', c: '9\n' }, paths: ['/p1', '/p2'] });
  });
});
