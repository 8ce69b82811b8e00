/**
 * Class (issue 20 §2, peak RSS at 5,000 runs): "an informer's list arrives as one response" — the
 * periodic relist (every 300 s) of thousands of pods or WorkflowRuns held the whole raw body, its
 * parse and every full object (spec, managedFields) at once before the cache slimmed them: the
 * runner's RSS jumped by ~80 MiB at the first relist of the 5,000-pod bench and never came back.
 * listAllPages asks for pages of LIST_PAGE_ITEMS and slims each page's items as they arrive.
 * Variants: one page, several pages (the last short, or exactly full with an empty token), both
 * spellings of the continue token (client-node's typed lists `_continue`, a custom resource's raw
 * JSON `continue`), the snapshot's resourceVersion kept from the first page, every item slimmed
 * exactly once, and a failing page failing the list (the informer retries it whole).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KubernetesListObject, KubernetesObject } from '@kubernetes/client-node';
import { LIST_PAGE_ITEMS, listAllPages, type ListPage } from '../../src/adapters/followed.ts';

type Item = KubernetesObject & { slimmed?: number };

/** A list of `count` items served in pages, with the token spelled `spelling`; logs each page asked for. */
function server(count: number, spelling: '_continue' | 'continue', failAt?: number) {
  const asked: ListPage[] = [];
  const items: Item[] = Array.from({ length: count }, (_, i) => ({ metadata: { name: `p${i}` } }));
  const list = (page: ListPage): Promise<KubernetesListObject<Item>> => {
    asked.push(page);
    const from = page.continue === undefined ? 0 : Number(page.continue.slice(3));
    if (failAt !== undefined && from >= failAt) return Promise.reject(new Error('410 Gone'));
    const to = Math.min(count, from + page.limit);
    const token = to < count ? `at-${to}` : '';
    return Promise.resolve({
      apiVersion: 'v1',
      kind: 'List',
      metadata: { resourceVersion: from === 0 ? '42' : '43', [spelling]: token },
      items: items.slice(from, to),
    } as KubernetesListObject<Item>);
  };
  return { asked, items, list };
}

const slim = (item: Item): void => {
  item.slimmed = (item.slimmed ?? 0) + 1;
};

for (const spelling of ['_continue', 'continue'] as const)
  for (const [count, limit] of [
    [0, 10],
    [7, 10],
    [10, 10],
    [25, 10],
    [1000, LIST_PAGE_ITEMS],
  ] as const)
    test(`${count} items in pages of ${limit}, token as ${spelling}`, async () => {
      const s = server(count, spelling);
      const listed = await listAllPages(s.list, slim, limit);
      assert.deepEqual(
        listed.items.map((i) => i.metadata?.name),
        s.items.map((i) => i.metadata?.name),
        'every item, in order',
      );
      assert.ok(
        listed.items.every((i) => i.slimmed === 1),
        'each item slimmed once',
      );
      assert.equal(listed.metadata?.resourceVersion, '42', "the first page's snapshot");
      assert.equal(s.asked.length, Math.max(1, Math.ceil(count / limit)), 'one request per page');
      assert.ok(
        s.asked.every((p) => p.limit === limit),
        'every page asks for the limit',
      );
      assert.equal(s.asked[0]?.continue, undefined);
    });

test('the default page is LIST_PAGE_ITEMS, far below the thousands a relist of the 5,000-pod bench returns', async () => {
  const s = server(2 * LIST_PAGE_ITEMS + 1, '_continue');
  await listAllPages(s.list);
  assert.deepEqual(
    s.asked.map((p) => p.limit),
    [LIST_PAGE_ITEMS, LIST_PAGE_ITEMS, LIST_PAGE_ITEMS],
  );
  assert.ok(LIST_PAGE_ITEMS <= 500);
});

test('a page that fails fails the whole list (the informer lists again from the start)', async () => {
  const s = server(30, 'continue', 20);
  await assert.rejects(listAllPages(s.list, slim, 10), /410 Gone/);
});

test('a metadata-only list of nothing (`items: null`, PartialObjectMetadataList) is an empty list, not an error', async () => {
  const list = (): Promise<KubernetesListObject<KubernetesObject>> =>
    Promise.resolve({
      metadata: { resourceVersion: '7' },
      items: null,
    } as unknown as KubernetesListObject<KubernetesObject>);
  const listed = await listAllPages(list);
  assert.deepEqual(listed.items, []);
  assert.equal(listed.metadata?.resourceVersion, '7');
});
