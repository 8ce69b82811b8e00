/**
 * Red team 15 (seen and left): `podDisruptionBudget.minAvailable: 100` with 2 replicas rendered a
 * PodDisruptionBudget that never allows a voluntary eviction, so `kubectl drain` of a runner's node
 * waits for ever. The class: a PodDisruptionBudget the chart renders always allows one eviction.
 * - minAvailable at or above replicaCount fails `helm template|install|upgrade` naming both keys
 *   (no opt-in: a budget that blocks every drain is never what a platform team wants);
 * - a single replica gets no PodDisruptionBudget (on one replica any budget either blocks every
 *   drain or protects nothing), so the defaults (minAvailable 1) also hold at replicaCount 1;
 * - the schema takes minAvailable only as a whole number from 1: no 0 (a budget that protects
 *   nothing: `enabled: false` says that plainly), no percentages ("100%" keeps every replica), no
 *   negative, fractional, string or boolean values, no maxUnavailable (0 would block every drain
 *   the same way);
 * - NOTES says which: the budget rendered, or why none is (disabled, or a single replica).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chartNotes, chartWithValues } from '../support/chart-values.ts';

type Doc = { kind?: string; spec?: { minAvailable?: unknown; replicas?: number } };
const render = chartWithValues<Doc>('kubiya-chart-pdb-');
const notes = chartNotes('kubiya-chart-pdb-notes-');
const values = (replicaCount: number, pdb: Record<string, unknown>) => ({ replicaCount, podDisruptionBudget: pdb });
const pdbs = (docs: Doc[]) => docs.filter((d) => d?.kind === 'PodDisruptionBudget');

/** [replicaCount, minAvailable]: a budget that keeps every replica. */
const BLOCKING: [number, number][] = [
  [2, 100], // the red team's example
  [2, 2],
  [2, 3],
  [3, 3],
  [5, 5],
  [20, 20],
  [20, 21],
];

test('minAvailable at or above replicaCount is refused naming both keys and the bound', async () => {
  const wrong: string[] = [];
  for (const [replicas, min] of BLOCKING) {
    const r = await render(values(replicas, { enabled: true, minAvailable: min }));
    const expected = `podDisruptionBudget.minAvailable (${min}) must be below replicaCount (${replicas})`;
    if (r.ok || !r.err.includes(expected) || !r.err.includes(`Use at most ${replicas - 1}`))
      wrong.push(`${replicas}/${min}: ${r.ok ? 'rendered' : r.err.slice(0, 200)}`);
  }
  assert.deepEqual(wrong, []);
});

/** minAvailable values the schema refuses, each with why. */
const GARBAGE: [unknown, string][] = [
  [0, 'zero: a budget that protects nothing (use enabled: false)'],
  ['100%', 'a percentage keeping every replica'],
  ['50%', 'a percentage (not taken: the bound is checked on whole numbers)'],
  ['0%', 'a percentage'],
  [-1, 'negative'],
  [1.5, 'fractional'],
  ['1', 'a string'],
  ['', 'empty'],
  ['one', 'garbage'],
  [true, 'a boolean'],
  [null, 'null (helm drops the key)'],
  [[1], 'a list'],
];

test('minAvailable that is not a whole number from 1 is refused by the schema naming the key', async () => {
  const wrong: string[] = [];
  for (const [v, why] of GARBAGE) {
    const r = await render(values(2, { enabled: true, minAvailable: v }));
    if (r.ok || !r.err.includes('minAvailable'))
      wrong.push(`${JSON.stringify(v)} (${why}): ${r.ok ? 'rendered' : r.err.slice(0, 200)}`);
  }
  assert.deepEqual(wrong, []);
});

test('maxUnavailable is not a key of the chart (0 or "0%" would block every drain)', async () => {
  for (const v of [0, '0%', 1]) {
    const r = await render(values(2, { enabled: true, minAvailable: 1, maxUnavailable: v }));
    assert.equal(r.ok, false);
    assert.match(r.ok ? '' : r.err, /maxUnavailable/);
  }
});

test('a budget that allows an eviction renders with the minAvailable given', async () => {
  for (const [replicas, min] of [
    [2, 1],
    [3, 1],
    [3, 2],
    [20, 19],
  ] as const) {
    const r = await render(values(replicas, { enabled: true, minAvailable: min }));
    assert.ok(r.ok, `${replicas}/${min}: ${r.ok ? '' : r.err}`);
    const [pdb, ...more] = pdbs(r.docs);
    assert.deepEqual(more, []);
    assert.equal(pdb?.spec?.minAvailable, min, `${replicas}/${min}`);
  }
});

test('a single replica gets no PodDisruptionBudget, whatever minAvailable (the defaults hold at replicaCount 1)', async () => {
  for (const min of [1, 2, 100]) {
    const r = await render(values(1, { enabled: true, minAvailable: min }));
    assert.ok(r.ok, r.ok ? '' : r.err);
    assert.deepEqual(pdbs(r.docs), []);
    assert.equal(r.docs.find((d) => d?.kind === 'StatefulSet')?.spec?.replicas, 1);
  }
  const defaults = await render({ replicaCount: 1 });
  assert.ok(defaults.ok && pdbs(defaults.docs).length === 0);
});

test('podDisruptionBudget.enabled false renders none, and the bound is not checked', async () => {
  const r = await render(values(2, { enabled: false, minAvailable: 5 }));
  assert.ok(r.ok, r.ok ? '' : r.err);
  assert.deepEqual(pdbs(r.docs), []);
});

test('the concrete case: minAvailable 100 with 2 replicas no longer renders', async () => {
  const r = await render(values(2, { enabled: true, minAvailable: 100 }));
  assert.equal(r.ok, false);
  const def = await render({});
  assert.ok(def.ok);
  assert.deepEqual(
    pdbs(def.docs).map((p) => p.spec?.minAvailable),
    [1],
    'the defaults (2 replicas, minAvailable 1) still render',
  );
});

test('minAvailable 0 is refused with every replicaCount and the message names the key and the bound', async () => {
  for (const replicas of [1, 2, 3, 20]) {
    const r = await render(values(replicas, { enabled: true, minAvailable: 0 }));
    assert.equal(r.ok, false, `replicaCount ${replicas}`);
    assert.match(r.ok ? '' : r.err, /podDisruptionBudget\/minAvailable': minimum: got 0, want 1/);
  }
});

/** values → the PodDisruptionBudget rendered (its minAvailable) or none, and what NOTES says of it. */
const NOTES_ROWS: [replicaCount: number, pdb: Record<string, unknown>, rendered: number | 'none', says: RegExp][] = [
  [2, { enabled: true, minAvailable: 1 }, 1, /^PodDisruptionBudget: node drains keep at least 1 of the 2 replicas up/m],
  [5, { enabled: true, minAvailable: 3 }, 3, /^PodDisruptionBudget: node drains keep at least 3 of the 5 replicas up/m],
  [
    1,
    { enabled: true, minAvailable: 1 },
    'none',
    /^No PodDisruptionBudget: replicaCount is 1, and on a single replica a budget either blocks every node drain or protects nothing\. While that replica is evicted, intake \(\/v1\/assignments\) is down/m,
  ],
  [1, { enabled: true, minAvailable: 100 }, 'none', /^No PodDisruptionBudget: replicaCount is 1,/m],
  [
    1,
    { enabled: false, minAvailable: 1 },
    'none',
    /^No PodDisruptionBudget \(podDisruptionBudget\.enabled is false\)/m,
  ],
  [
    3,
    { enabled: false, minAvailable: 1 },
    'none',
    /^No PodDisruptionBudget \(podDisruptionBudget\.enabled is false\)/m,
  ],
];

test('NOTES says whether a PodDisruptionBudget was rendered, and why not when none was', async () => {
  const wrong: string[] = [];
  for (const [replicas, pdb, rendered, says] of NOTES_ROWS) {
    const row = `${replicas} ${JSON.stringify(pdb)}`;
    const [r, n] = await Promise.all([render(values(replicas, pdb)), notes(values(replicas, pdb))]);
    if (!r.ok || !n.ok) {
      wrong.push(`${row}: ${r.ok ? '' : r.err}${n.ok ? '' : n.err}`);
      continue;
    }
    const got = pdbs(r.docs).map((p) => p.spec?.minAvailable);
    if (JSON.stringify(got) !== JSON.stringify(rendered === 'none' ? [] : [rendered]))
      wrong.push(`${row}: rendered ${JSON.stringify(got)}`);
    if (!says.test(n.notes)) wrong.push(`${row}: NOTES does not say ${String(says)}`);
    const lines = n.notes.split('\n').filter((l) => /PodDisruptionBudget/.test(l));
    if (lines.length !== 1) wrong.push(`${row}: ${lines.length} NOTES lines name the PodDisruptionBudget`);
  }
  assert.deepEqual(wrong, []);
});

// The token warning that came before it is gone: a release without a token no longer renders
// (red team 17; test/chart/runner-token.test.ts).
test('NOTES of the defaults (2 replicas, minAvailable 1): the budget, between the workflow pods and the policy', async () => {
  const n = await notes({});
  assert.ok(n.ok, n.ok ? '' : n.err);
  assert.match(
    n.notes,
    /kubiya\.ai\/runner=production-runner\n\nPodDisruptionBudget: node drains keep at least 1 of the 2 replicas up \(podDisruptionBudget\.minAvailable\)\.\n\nPolicy: /,
  );
});
