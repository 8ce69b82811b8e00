/**
 * FreshReads (src/adapters/kube-fresh.ts): reads shared by callers that wait at the same time, and
 * never older than the question. The class: "a caller is answered by a read that began before it
 * asked" (it joined the read in flight: a change made just before its call is missed; red team 4
 * finding 2 for the DNS policy). Over random schedules of calls and read endings (fast-check), every
 * caller's answer must come from a read started after its call, one read at most is in flight, every
 * caller is answered, and a read's rejection reaches exactly the callers it answered.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { FreshBatches, FreshReads } from '../../src/adapters/kube-fresh.ts';

/** Lets every queued microtask (and the ones they queue) run. */
const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

interface Read {
  readonly startedAt: number;
  readonly end: (fails: boolean) => void;
}

/** Steps of a schedule: a caller asks, or the oldest unfinished read ends (ok or failing). */
type Step = { readonly kind: 'call' } | { readonly kind: 'end'; readonly fails: boolean };
const steps = fc.array(
  fc.oneof(
    fc.constant<Step>({ kind: 'call' }),
    fc.boolean().map((fails): Step => ({ kind: 'end', fails })),
  ),
  { minLength: 1, maxLength: 40 },
);

test('every caller is answered by a read that started after its call; one read in flight at most; rejections reach their callers', async () => {
  await fc.assert(
    fc.asyncProperty(steps, async (schedule) => {
      let clock = 0;
      let inFlight = 0;
      let maxInFlight = 0;
      const reads: Read[] = [];
      const fresh = new FreshReads<number>(
        () =>
          new Promise<number>((resolve, reject) => {
            const startedAt = ++clock;
            inFlight++;
            maxInFlight = Math.max(maxInFlight, inFlight);
            reads.push({
              startedAt,
              end: (fails) => {
                inFlight--;
                if (fails) reject(new Error(`read ${startedAt} failed`));
                else resolve(startedAt);
              },
            });
          }),
      );
      const answers: { calledAt: number; answer?: number; failed?: string }[] = [];
      let ended = 0;
      const run = async (step: Step): Promise<void> => {
        if (step.kind === 'call') {
          const entry: (typeof answers)[number] = { calledAt: ++clock };
          answers.push(entry);
          fresh.fresh().then(
            (a) => (entry.answer = a),
            (e: unknown) => (entry.failed = String(e)),
          );
        } else if (ended < reads.length) reads[ended++]?.end(step.fails);
        await settle();
      };
      for (const step of schedule) await run(step);
      // Drain: end every read still running (and those the drain starts), none failing.
      while (ended < reads.length) await run({ kind: 'end', fails: false });
      assert.ok(maxInFlight <= 1, `${maxInFlight} reads were in flight at once`);
      for (const a of answers) {
        const by = a.answer ?? Number(/read (\d+) failed/.exec(a.failed ?? '')?.[1]);
        assert.ok(Number.isFinite(by), `the caller of ${a.calledAt} was never answered`);
        assert.ok(by > a.calledAt, `the caller of ${a.calledAt} was answered by read ${by}, started before it asked`);
      }
      assert.ok(reads.length <= answers.length, 'more reads than callers');
    }),
    { numRuns: 300 },
  );
});

test('callers that wait at the same time share one read: three calls during a read cost one more read, not three', async () => {
  let n = 0;
  const ends: (() => void)[] = [];
  const fresh = new FreshReads<number>(
    () =>
      new Promise<number>((resolve) => {
        const k = ++n;
        ends.push(() => resolve(k));
      }),
  );
  const first = fresh.fresh();
  await settle();
  const waiting = [fresh.fresh(), fresh.fresh(), fresh.fresh()];
  await settle();
  assert.equal(n, 1, 'the waiting callers did not join the read in flight, nor start their own yet');
  ends[0]?.();
  assert.equal(await first, 1);
  await settle();
  assert.equal(n, 2);
  ends[1]?.();
  assert.deepEqual(await Promise.all(waiting), [2, 2, 2]);
});

test('a read that throws synchronously rejects its callers, and the next call reads again', async () => {
  let calls = 0;
  const fresh = new FreshReads<number>(() => {
    calls++;
    if (calls === 1) throw new Error('boom');
    return Promise.resolve(calls);
  });
  await assert.rejects(fresh.fresh(), /boom/);
  assert.equal(await fresh.fresh(), 2);
});

test('FreshBatches: every caller is answered for its key by a read that started after its call and asked for that key; one read in flight; at most maxKeys per read', async () => {
  const schedule = fc.array(
    fc.oneof(
      fc.integer({ min: 0, max: 5 }).map((key) => ({ kind: 'call' as const, key })),
      fc.boolean().map((fails) => ({ kind: 'end' as const, fails })),
    ),
    { minLength: 1, maxLength: 40 },
  );
  await fc.assert(
    fc.asyncProperty(schedule, fc.integer({ min: 1, max: 4 }), async (steps, maxKeys) => {
      let clock = 0;
      let inFlight = 0;
      let maxInFlight = 0;
      const reads: { startedAt: number; keys: readonly number[]; end: (fails: boolean) => void }[] = [];
      const batches = new FreshBatches<number, string>(
        (keys) =>
          new Promise((resolve, reject) => {
            const startedAt = ++clock;
            inFlight++;
            maxInFlight = Math.max(maxInFlight, inFlight);
            reads.push({
              startedAt,
              keys,
              end: (fails) => {
                inFlight--;
                if (fails) reject(new Error(`read ${startedAt} failed`));
                else resolve(new Map(keys.map((k) => [k, `${k}@${startedAt}`])));
              },
            });
          }),
        maxKeys,
      );
      const answers: { key: number; calledAt: number; answer?: string; failed?: string }[] = [];
      let ended = 0;
      for (const step of [...steps, ...Array.from({ length: 80 }, () => ({ kind: 'end' as const, fails: false }))]) {
        if (step.kind === 'call') {
          const entry: (typeof answers)[number] = { key: step.key, calledAt: ++clock };
          answers.push(entry);
          batches.fresh(step.key).then(
            (a) => (entry.answer = a),
            (e: unknown) => (entry.failed = String(e)),
          );
        } else if (ended < reads.length) reads[ended++]?.end(step.fails);
        await settle();
      }
      assert.ok(maxInFlight <= 1, `${maxInFlight} reads in flight at once`);
      for (const r of reads)
        assert.ok(r.keys.length >= 1 && r.keys.length <= maxKeys, `a read of ${r.keys.length} keys`);
      for (const a of answers) {
        const by =
          a.answer !== undefined
            ? Number(a.answer.split('@')[1])
            : Number(/read (\d+) failed/.exec(a.failed ?? '')?.[1]);
        assert.ok(Number.isFinite(by), `the caller of ${a.calledAt} (key ${a.key}) was never answered`);
        assert.ok(by > a.calledAt, `the caller of ${a.calledAt} was answered by read ${by}, started before it asked`);
        const read = reads.find((r) => r.startedAt === by);
        assert.ok(read?.keys.includes(a.key), `read ${by} did not ask for key ${a.key}`);
        if (a.answer !== undefined) assert.equal(a.answer, `${a.key}@${by}`);
      }
    }),
    { numRuns: 300 },
  );
});
