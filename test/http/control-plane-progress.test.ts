/**
 * Class: a loop against a peer that goes round again at once when the peer's answer made no
 * progress (noticed after red team 17: `200 {"acked": []}` made the events loop post the same
 * batch again at once, for ever). Every loop of the control-plane client is driven here by a real
 * loopback control plane answering AT ONCE with an answer that moves nothing: the poll (`204`,
 * `200 {}`, empty lists — the client must not ask again sooner than EMPTY_POLL_INTERVAL_MS after
 * the last poll started) and the events post (an `acked` list naming none of the batch — a failed
 * call, retried with backoff). A poll answer over the protocol's 10 items of a kind is refused
 * whole. Rows that do make progress (10 assignments; acks one event at a time) must still go at
 * full speed. Each row counts the requests the server saw in a bounded window.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { suite, test } from 'node:test';
import fc from 'fast-check';
import { readPollAnswer } from '../../src/adapters/control-plane-answers.ts';
import { ControlPlaneClient } from '../../src/adapters/control-plane-client.ts';
import type { ControlPlaneEvent } from '../../src/adapters/control-plane-event.ts';
import { EMPTY_POLL_INTERVAL_MS } from '../../src/adapters/control-plane-pacing.ts';
import { loopback } from '../support/hostile-answers.ts';

const WINDOW_MS = 2000;

interface Seen {
  polls: number;
  posts: number;
  handed: number;
  errors: string[];
  pending: number;
}

/**
 * A client against a control plane that answers polls with `poll()` and event posts with
 * `events(ids)`, both at once; `events` queued first. Runs WINDOW_MS, then stops everything.
 */
async function drive(o: {
  readonly poll?: () => { status: number; body?: unknown };
  readonly events?: (ids: string[]) => unknown;
  readonly queued?: number;
  readonly accepting?: boolean;
  /** What intake makes of each assignment (taken by default). */
  readonly taken?: (token: string) => boolean;
}): Promise<Seen> {
  const seen: Seen = { polls: 0, posts: 0, handed: 0, errors: [], pending: 0 };
  const cp = await loopback((req, res, body) => {
    const json = (status: number, doc?: unknown) =>
      doc === undefined
        ? res.writeHead(status).end()
        : res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(doc));
    if (req.url?.includes('/assignments')) {
      seen.polls++;
      const a = o.poll?.() ?? { status: 204 };
      return json(a.status, a.body);
    }
    if (req.url?.includes('/events')) {
      seen.posts++;
      const ids = (JSON.parse(body) as { events: { id: string }[] }).events.map((e) => e.id);
      return json(200, o.events?.(ids) ?? { acked: ids });
    }
    json(200, {});
  });
  const client = new ControlPlaneClient(
    {
      url: cp.url,
      runner: 'progress',
      token: 't',
      version: '0',
      capabilities: {},
      pollWaitSeconds: 20,
      heartbeatMs: 300,
      backoff: { initialMs: 100, maxMs: 400 },
      requestTimeoutMs: 1000,
      eventBatch: 100,
      eventQueueMax: 1000,
      maxTokenBytes: 64 * 1024,
      onError: (op, m) => seen.errors.push(`${op}: ${m}`),
    },
    (token) => {
      seen.handed++;
      return Promise.resolve(o.taken?.(token) ?? true);
    },
    () => o.accepting ?? true,
  );
  for (let i = 0; i < (o.queued ?? 0); i++) client.enqueue(event(`e${i}`));
  try {
    client.start();
    await sleep(WINDOW_MS);
    seen.pending = client.pendingEvents;
  } finally {
    await client.stop(0);
    await cp.close();
  }
  return seen;
}

const event = (id: string): ControlPlaneEvent => ({
  id,
  runner: 'progress',
  workflow: 'w',
  runId: 'r',
  phase: 'Accepted',
  time: new Date().toISOString(),
});

const tokens = (n: number) => Array.from({ length: n }, (_, i) => `a.b.${i}`);

/** At most one poll per EMPTY_POLL_INTERVAL_MS over the window, and one for the start. */
const EMPTY_POLLS_BOUND = Math.ceil(WINDOW_MS / EMPTY_POLL_INTERVAL_MS) + 1;

const EMPTY_POLLS: readonly (readonly [string, () => { status: number; body?: unknown }])[] = [
  ['204 at once', () => ({ status: 204 })],
  ['200 {} at once', () => ({ status: 200, body: {} })],
  ['200 with two empty lists at once', () => ({ status: 200, body: { assignments: [], cancellations: [] } })],
  ['200 with only an empty assignments list', () => ({ status: 200, body: { assignments: [] } })],
  ['200 with only an empty cancellations list', () => ({ status: 200, body: { cancellations: [] } })],
];

suite('the client against answers that move nothing, and that do', { concurrency: true }, () => {
  for (const [name, poll] of EMPTY_POLLS)
    test(`a poll answered with nothing (${name}) is not repeated sooner than ${EMPTY_POLL_INTERVAL_MS} ms`, async () => {
      const seen = await drive({ poll });
      assert.ok(seen.polls >= 1, 'the client polled');
      assert.ok(seen.polls <= EMPTY_POLLS_BOUND, `${seen.polls} polls in ${WINDOW_MS} ms (bound ${EMPTY_POLLS_BOUND})`);
      assert.deepEqual(seen.errors, []);
      assert.equal(seen.handed, 0);
    });

  test('a poll that delivers work is followed at once (10 assignments per answer)', async () => {
    const seen = await drive({ poll: () => ({ status: 200, body: { assignments: tokens(10) } }) });
    assert.ok(seen.polls > EMPTY_POLLS_BOUND * 2, `only ${seen.polls} polls in ${WINDOW_MS} ms`);
    // Every answer whole to intake (the last may still be in hand when the window closes).
    assert.ok(
      seen.handed >= (seen.polls - 1) * 10 && seen.handed <= seen.polls * 10,
      `${seen.handed} of ${seen.polls} answers`,
    );
    assert.deepEqual(seen.errors, []);
  });

  for (const [name, body] of [
    ['11 assignments', { assignments: tokens(11) }],
    ['11 cancellations', { cancellations: tokens(11) }],
    ['1,000 assignments', { assignments: tokens(1000) }],
  ] as const)
    test(`a poll answer with ${name} is refused whole, and retried with backoff`, async () => {
      const seen = await drive({ poll: () => ({ status: 200, body }) });
      assert.equal(seen.handed, 0, 'nothing of it handed to intake');
      assert.ok(seen.errors.length >= 1);
      assert.ok(
        seen.errors.every((e) =>
          /^poll: poll: malformed answer: \d+ assignments and \d+ cancellations, at most 10/.test(e),
        ),
        seen.errors[0],
      );
      // Backoff 100 ms doubling to 400, full jitter: far fewer than one a millisecond.
      assert.ok(seen.polls <= 60, `${seen.polls} polls in ${WINDOW_MS} ms`);
    });

  const NO_PROGRESS_ACKS: readonly (readonly [string, (ids: string[]) => unknown])[] = [
    ['{"acked": []} (the example)', () => ({ acked: [] })],
    ['ids of events never sent', () => ({ acked: ['someone-else', 'e999'] })],
    ['the ids in another case', (ids) => ({ acked: ids.map((id) => id.toUpperCase()) })],
    ['the ids with white space', (ids) => ({ acked: ids.map((id) => ` ${id}`) })],
  ];

  for (const [name, events] of NO_PROGRESS_ACKS)
    test(`an events answer acknowledging none of the batch (${name}) is a failed call, retried with backoff`, async () => {
      const seen = await drive({ events, queued: 3, accepting: false });
      assert.ok(seen.posts >= 1);
      assert.ok(seen.posts <= 60, `${seen.posts} posts in ${WINDOW_MS} ms`);
      assert.equal(seen.pending, 3, 'no event dropped');
      assert.ok(seen.errors.length >= 1);
      assert.ok(
        seen.errors.every((e) => e === 'events: the control plane acknowledged none of the 3 events sent'),
        seen.errors[0],
      );
    });

  test('an events answer acknowledging one event at a time is progress: all delivered, no error', async () => {
    const seen = await drive({ events: (ids) => ({ acked: ids.slice(0, 1) }), queued: 5, accepting: false });
    assert.equal(seen.pending, 0);
    assert.equal(seen.posts, 5);
    assert.deepEqual(seen.errors, []);
  });
});

/**
 * Red team 19, finding 3: an answer whose every item intake refused (the same assignment again: a
 * replay; malformed tokens) is no progress either — with backoff — while one taken item is.
 */
suite('answers whose every item is refused back off; one taken item is progress', { concurrency: true }, () => {
  const REFUSED: [name: string, body: unknown][] = [
    ['the same assignment every time (a replay)', { assignments: ['a.b.same'] }],
    ['only malformed tokens', { assignments: ['abc.def.ghi', 'x'] }],
    ['ten assignments, all refused', { assignments: tokens(10) }],
  ];
  for (const [name, body] of REFUSED)
    test(`${name}: polls back off`, async () => {
      const seen = await drive({ poll: () => ({ status: 200, body }), taken: () => false });
      assert.ok(seen.polls >= 2, `${seen.polls} polls`);
      assert.ok(seen.polls <= 30, `${seen.polls} polls in ${WINDOW_MS} ms`);
      assert.deepEqual(seen.errors, []);
    });
  test('one of ten taken: progress, polled at once', async () => {
    const seen = await drive({
      poll: () => ({ status: 200, body: { assignments: tokens(10) } }),
      taken: (t) => t.endsWith('.0'),
    });
    assert.ok(seen.polls > 60, `only ${seen.polls} polls in ${WINDOW_MS} ms`);
  });
});

test('readPollAnswer: refused exactly when a kind holds more than 10 items', async () => {
  await fc.assert(
    fc.asyncProperty(fc.nat(25), fc.nat(25), async (a, c) => {
      const res = new Response(JSON.stringify({ assignments: tokens(a), cancellations: tokens(c) }), {
        headers: { 'content-type': 'application/json' },
      });
      const got = await readPollAnswer(res, 64 * 1024).then(
        (v) => ({ ok: true as const, n: v.assignments.length + v.cancellations.length }),
        (e: Error) => ({ ok: false as const, message: e.message }),
      );
      if (a > 10 || c > 10) assert.equal(got.ok, false);
      else assert.deepEqual(got, { ok: true, n: a + c });
    }),
    { numRuns: 200 },
  );
});
