import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { judgeWatch, Watchdog, type Timers, type WatchVerdict } from '../../src/adapters/watchdog.ts';

/**
 * The class: a watch that goes silent without closing (a middlebox stops forwarding) must be ended
 * within a bound, and an informer must relist on a bounded period however healthy its watch looks.
 * Variants: silence just under / at / past the idle bound; a relist due while events keep flowing;
 * both due at once (the stall is what gets reported); a watch that ends by itself (never fires);
 * events that arrive just before the bound (postpone it); a relist already due at start.
 */

/** A fake clock: timers run when advance() passes their time, in time order. */
class FakeTimers implements Timers {
  private t = 0;
  private seq = 0;
  private readonly pending = new Map<number, { at: number; fn: () => void }>();
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.pending.set(id, { at: this.t + ms, fn });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.pending.delete(handle as number);
  }
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const next = [...this.pending.entries()].filter(([, p]) => p.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (next === undefined) break;
      this.pending.delete(next[0]);
      this.t = next[1].at;
      next[1].fn();
    }
    this.t = end;
  }
  armed(): number {
    return this.pending.size;
  }
}

const bounds = { idleMs: 45_000, relistMs: 300_000 };

describe('judgeWatch', () => {
  const cases: { name: string; lastSeenAt: number; listedAt: number; now: number; want: WatchVerdict }[] = [
    {
      name: 'fresh watch waits for the idle bound',
      lastSeenAt: 0,
      listedAt: 0,
      now: 0,
      want: { kind: 'wait', forMs: 45_000 },
    },
    {
      name: 'silent 1 ms under the bound waits 1 ms',
      lastSeenAt: 0,
      listedAt: 0,
      now: 44_999,
      want: { kind: 'wait', forMs: 1 },
    },
    {
      name: 'silent exactly the bound is stalled',
      lastSeenAt: 0,
      listedAt: 0,
      now: 45_000,
      want: { kind: 'idle', silentMs: 45_000 },
    },
    {
      name: 'silent past the bound is stalled',
      lastSeenAt: 10,
      listedAt: 0,
      now: 100_010,
      want: { kind: 'idle', silentMs: 100_000 },
    },
    {
      name: 'busy watch with an old list relists',
      lastSeenAt: 299_999,
      listedAt: 0,
      now: 300_000,
      want: { kind: 'relist', sinceListMs: 300_000 },
    },
    {
      name: 'relist nearer than the idle bound is waited for',
      lastSeenAt: 290_000,
      listedAt: 0,
      now: 290_000,
      want: { kind: 'wait', forMs: 10_000 },
    },
    {
      name: 'stalled and due for a relist: the stall is reported',
      lastSeenAt: 0,
      listedAt: 0,
      now: 400_000,
      want: { kind: 'idle', silentMs: 400_000 },
    },
  ];
  for (const c of cases) {
    test(c.name, () =>
      assert.deepEqual(judgeWatch({ lastSeenAt: c.lastSeenAt, listedAt: c.listedAt }, bounds, c.now), c.want),
    );
  }

  test('property: a wait never overshoots a bound, and ending happens exactly when a bound is reached', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1e7 }),
        fc.integer({ min: 1, max: 1e7 }),
        fc.integer({ min: 0, max: 1e7 }),
        fc.integer({ min: 0, max: 1e7 }),
        fc.integer({ min: 0, max: 2e7 }),
        (idleMs, relistMs, lastSeenAt, listedAt, later) => {
          const now = Math.max(lastSeenAt, listedAt) + later;
          const v = judgeWatch({ lastSeenAt, listedAt }, { idleMs, relistMs }, now);
          const idleAt = lastSeenAt + idleMs;
          const relistAt = listedAt + relistMs;
          if (v.kind === 'wait') {
            assert.ok(v.forMs > 0);
            assert.equal(now + v.forMs, Math.min(idleAt, relistAt));
          } else if (v.kind === 'idle') {
            assert.ok(now >= idleAt);
          } else {
            assert.ok(now >= relistAt && now < idleAt);
          }
        },
      ),
    );
  });
});

describe('Watchdog on a fake clock', () => {
  const start = (timers: FakeTimers, listedAt = () => 0) => {
    const fired: WatchVerdict[] = [];
    const dog = new Watchdog(bounds, listedAt, (v) => fired.push(v), timers);
    return { dog, fired };
  };

  test('a silent watch is ended exactly at the idle bound, once', () => {
    const timers = new FakeTimers();
    const { fired } = start(timers);
    timers.advance(44_999);
    assert.deepEqual(fired, []);
    timers.advance(1);
    assert.deepEqual(fired, [{ kind: 'idle', silentMs: 45_000 }]);
    timers.advance(1_000_000);
    assert.equal(fired.length, 1, 'fires once');
    assert.equal(timers.armed(), 0, 'no timer left');
  });

  test('each event or bookmark postpones the bound: silence is measured from the last one', () => {
    const timers = new FakeTimers();
    const { dog, fired } = start(timers);
    for (let i = 0; i < 5; i++) {
      timers.advance(40_000);
      dog.seen();
    }
    assert.deepEqual(fired, []);
    timers.advance(44_999);
    assert.deepEqual(fired, []);
    timers.advance(1);
    assert.deepEqual(fired, [{ kind: 'idle', silentMs: 45_000 }]);
  });

  test('a busy watch is still ended for a relist when the last list is relistMs old', () => {
    const timers = new FakeTimers();
    const { dog, fired } = start(timers);
    for (let t = 0; t < 300_000; t += 1000) {
      timers.advance(1000);
      dog.seen();
      if (fired.length > 0) break;
    }
    assert.deepEqual(fired, [{ kind: 'relist', sinceListMs: 300_000 }]);
    assert.equal(timers.now(), 300_000);
  });

  test('a watch that ends by itself is never fired on', () => {
    const timers = new FakeTimers();
    const { dog, fired } = start(timers);
    timers.advance(30_000);
    dog.stop();
    timers.advance(10_000_000);
    assert.deepEqual(fired, []);
    assert.equal(timers.armed(), 0);
  });

  test('a relist already due at start fires at once', () => {
    const timers = new FakeTimers();
    timers.advance(400_000);
    const { fired } = start(timers, () => 0);
    assert.deepEqual(fired, [{ kind: 'relist', sinceListMs: 400_000 }]);
  });
});
