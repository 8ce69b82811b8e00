/**
 * The periodic relist behind the watch (src/adapters/relist.ts; issue 20 §2: the informer stopped
 * its watch for each relist, and at 5,000 pods on a loaded machine no pod end was seen for ~60 s,
 * minutes 4–5 and 9 of the scale bench: the completion-seen p99). The class: a complete list read
 * while the watch runs must change the cache only where the cache is behind the list, never undo
 * what the watch saw after the list's snapshot. Variants (resourceVersions as etcd's integers):
 *   - missed add, missed update, missed delete: delivered;
 *   - the watch ahead of the list: a newer cached copy (no MODIFIED), an object made after the
 *     snapshot (not deleted), an object the watch deleted while the list was read (not re-added);
 *   - the same version: nothing; versions that do not compare: left to the watch;
 *   - several namespaces: objects are told apart by namespace and name.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KubernetesListObject, KubernetesObject } from '@kubernetes/client-node';
import fc from 'fast-check';
import { keyOf, ListedBehind, missedChanges } from '../../src/adapters/relist.ts';

const obj = (name: string, rv: string, namespace = 'ns'): KubernetesObject => ({
  metadata: { name, namespace, resourceVersion: rv },
});

function cacheOf(objects: KubernetesObject[]) {
  const byKey = new Map(objects.map((o) => [keyOf(o), o]));
  return {
    get: (name: string, namespace?: string) => byKey.get(`${namespace ?? ''}/${name}`),
    list: () => [...byKey.values()],
  };
}

const listOf = (rv: string, items: KubernetesObject[]): KubernetesListObject<KubernetesObject> => ({
  metadata: { resourceVersion: rv },
  items,
});

const ROWS: [string, KubernetesObject[], KubernetesListObject<KubernetesObject>, string[], string[]][] = [
  // [case, cache, list, deleted while listing, expected "PHASE ns/name@rv"]
  ['a missed add', [], listOf('10', [obj('a', '5')]), [], ['ADDED ns/a@5']],
  ['a missed update', [obj('a', '5')], listOf('10', [obj('a', '8')]), [], ['MODIFIED ns/a@8']],
  ['a missed delete', [obj('a', '5')], listOf('10', []), [], ['DELETED ns/a@5']],
  ['the same version: nothing', [obj('a', '5')], listOf('10', [obj('a', '5')]), [], []],
  ['the watch ahead: a newer cached copy stays', [obj('a', '12')], listOf('10', [obj('a', '8')]), [], []],
  ['made after the snapshot: not deleted', [obj('a', '12')], listOf('10', []), [], []],
  ['deleted by the watch while listing: not re-added', [], listOf('10', [obj('a', '5')]), ['ns/a'], []],
  ['versions that do not compare: left to the watch', [obj('a', 'x')], listOf('10', [obj('a', 'y')]), [], []],
  ['a cached version that does not compare: not deleted', [obj('a', 'x')], listOf('10', []), [], []],
  [
    'two namespaces, one name',
    [obj('a', '5', 'one')],
    listOf('10', [obj('a', '5', 'one'), obj('a', '6', 'two')]),
    [],
    ['ADDED two/a@6'],
  ],
  [
    'all at once',
    [obj('kept', '3'), obj('stale', '4'), obj('gone', '2'), obj('fresh', '11')],
    listOf('10', [obj('kept', '3'), obj('stale', '9'), obj('new', '7')]),
    [],
    ['MODIFIED ns/stale@9', 'ADDED ns/new@7', 'DELETED ns/gone@2'],
  ],
];

for (const [name, cache, listed, deleted, expected] of ROWS) {
  test(`relist behind the watch: ${name}`, () => {
    const missed = missedChanges(cacheOf(cache), listed, new Set(deleted));
    assert.deepEqual(
      missed.map((m) => `${m.phase} ${keyOf(m.object)}@${m.object.metadata?.resourceVersion ?? ''}`),
      expected,
    );
  });
}

/**
 * The relist reads its list page by page and keeps a listed object only while the cache may still
 * miss it (ListedBehind; issue 20 §2, not a second copy of the cache at 5,000 pods). Class: "an
 * object dropped at its page would have been delivered at the end". While the list is read, the
 * watch moves the cache forward between any two items — an update to a newer version, a delete
 * (recorded, as the informer records it), an object made after the snapshot — and what ListedBehind
 * answers at the end must be what missedChanges answers for the whole list against the cache then.
 */
test('relist behind the watch: read page by page, it delivers what the whole list would (fast-check)', () => {
  const names = ['a', 'b', 'c', 'd', 'e', 'f'];
  const change = fc.record({
    after: fc.nat({ max: 6 }),
    name: fc.constantFrom(...names),
    kind: fc.constantFrom('update', 'delete', 'make'),
  });
  fc.assert(
    fc.property(
      fc.uniqueArray(fc.record({ name: fc.constantFrom(...names), rv: fc.integer({ min: 1, max: 9 }) }), {
        selector: (o) => o.name,
      }),
      fc.uniqueArray(fc.record({ name: fc.constantFrom(...names), rv: fc.integer({ min: 1, max: 10 }) }), {
        selector: (o) => o.name,
      }),
      fc.array(change, { maxLength: 8 }),
      (cached, listed, changes) => {
        const byKey = new Map(cached.map((o) => [`ns/${o.name}`, obj(o.name, String(o.rv))]));
        const cache = {
          get: (name: string, namespace?: string) => byKey.get(`${namespace ?? ''}/${name}`),
          list: () => [...byKey.values()],
        };
        const deleted = new Set<string>();
        let rv = 10;
        const watch = (at: number): void => {
          for (const c of changes.filter((x) => x.after === at)) {
            const key = `ns/${c.name}`;
            rv++;
            if (c.kind === 'delete') {
              if (byKey.delete(key)) deleted.add(key);
            } else if (c.kind === 'update') {
              if (byKey.has(key)) byKey.set(key, obj(c.name, String(rv)));
            } else if (!byKey.has(key)) byKey.set(key, obj(c.name, String(rv)));
          }
        };
        const items = listed.map((o) => obj(o.name, String(o.rv)));
        const behind = new ListedBehind(cache);
        items.forEach((item, i) => {
          watch(i);
          behind.add(item);
        });
        for (let i = items.length; i <= 6; i++) watch(i);
        const show = (m: { phase: string; object: KubernetesObject }) =>
          `${m.phase} ${keyOf(m.object)}@${m.object.metadata?.resourceVersion ?? ''}`;
        assert.deepEqual(
          behind.missed('10', deleted).map(show),
          missedChanges(cache, listOf('10', items), deleted).map(show),
        );
      },
    ),
    { numRuns: 2000 },
  );
});
