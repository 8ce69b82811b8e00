/**
 * Red team 17, finding 1. Class: a network answer read whole, decoded, with no bound. Every body
 * the runner reads from the network goes through one bounded reader (src/adapters/bounded-body.ts)
 * that counts DECODED bytes (undici's fetch gunzips by itself). Variants (HOSTILE): a gzip bomb, a
 * huge identity body without Content-Length, the same with a declared Content-Length, an endless
 * body that trickles. Readers: the JWKS fetch, the control plane's poll and events answers, the
 * decision-log sink's answer, the bundle download. Each pair runs against a real loopback server,
 * with the runner's own classes; each asserts the outcome (a coded NETWORK_ANSWER_TOO_LARGE, a
 * timeout, or — for the sink, whose answer is unused — success) and an RSS growth under 64 MiB
 * (the bundle's: 64 MiB over its own 32 MiB bound).
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { FileAuditLog } from '../../src/adapters/audit-file.ts';
import { AuditShipper, SHIP_CURSOR } from '../../src/adapters/audit-ship.ts';
import { BundlePoller } from '../../src/adapters/bundle-poller.ts';
import { pollAnswerMaxBytes } from '../../src/adapters/control-plane-answers.ts';
import { ControlPlaneClient, type ControlPlaneClientOptions } from '../../src/adapters/control-plane-client.ts';
import { JWKS_ANSWER_MAX_BYTES, RemoteJwks } from '../../src/adapters/jwks-remote.ts';
import {
  answerHostile,
  gzipBomb,
  HOSTILE,
  loopback,
  rssGrowth,
  type Answered,
  type Hostile,
} from '../support/hostile-answers.ts';
import { newSigner } from '../support/audit-signer.ts';
import { waitFor } from '../support/wait.ts';

const RSS_BOUND_MIB = 64;
const TIMEOUT_MS = 1500;
const TOO_LARGE = /^NETWORK_ANSWER_TOO_LARGE: /;
const TIMED_OUT = /timeout|aborted/i;

let bomb: Buffer;
let dir: string;
before(async () => {
  bomb = await gzipBomb(256); // 256 MiB decoded: four times the RSS bound, ~260 KB on the wire
  dir = await mkdtemp(join(tmpdir(), 'kubiya-net-answers-'));
});
after(() => rm(dir, { recursive: true, force: true }));

/** What a reader did with one hostile answer: an error message, or none (it took the answer). */
type Outcome = { readonly error?: string | undefined };

async function jwks(url: string, timeoutMs = TIMEOUT_MS): Promise<Outcome> {
  const errors: string[] = [];
  const r = new RemoteJwks({
    url,
    refreshMs: 300_000,
    staleIfErrorMs: 3_600_000,
    minRefetchMs: 30_000,
    timeoutMs,
    onError: (m) => errors.push(m),
  });
  await r.refresh();
  return { error: errors[0] };
}

function clientOptions(
  url: string,
  overrides: Partial<ControlPlaneClientOptions>,
  errors: string[],
  onError: () => void = () => undefined,
): ControlPlaneClientOptions {
  return {
    url,
    runner: 'net17',
    token: 't',
    version: '0',
    capabilities: {},
    pollWaitSeconds: 0,
    heartbeatMs: 100,
    backoff: { initialMs: 10, maxMs: 50 },
    requestTimeoutMs: TIMEOUT_MS,
    eventBatch: 100,
    eventQueueMax: 1000,
    maxTokenBytes: 64 * 1024,
    onError: (op, m) => {
      onError();
      errors.push(`${op}: ${m}`);
    },
    ...overrides,
  };
}

/** A control plane's answer to a POST of events: every id acknowledged. */
function acking(body: string): string {
  const { events } = JSON.parse(body) as { events: { id: string }[] };
  return JSON.stringify({ acked: events.map((e) => e.id) });
}

/** The client against a control plane whose first answer at `route` is hostile (then 204 / acked). */
async function controlPlane(
  route: 'assignments' | 'events',
  kind: Hostile,
  log: Answered[],
  overrides: Partial<ControlPlaneClientOptions> = {},
): Promise<Outcome & { pending: number }> {
  let served = false;
  const cp = await loopback((req, res, body) => {
    if (req.url?.includes(`/${route}`) && !served) {
      served = true;
      return answerHostile(kind, bomb, res, log);
    }
    if (req.url?.includes('/assignments')) return void setTimeout(() => res.writeHead(204).end(), 50);
    res.writeHead(200, { 'content-type': 'application/json' }).end(req.url?.includes('/events') ? acking(body) : '{}');
  });
  const errors: string[] = [];
  // The queue's length when the hostile answer was refused: its event is kept for the retry.
  let pendingAtError = -1;
  const client: ControlPlaneClient = new ControlPlaneClient(
    clientOptions(`${cp.url}`, overrides, errors, () => {
      if (pendingAtError < 0) pendingAtError = client.pendingEvents;
    }),
    () => Promise.resolve(),
    () => route === 'assignments',
  );
  if (route === 'events')
    client.enqueue({
      id: 'e1',
      runner: 'net17',
      workflow: 'w',
      runId: 'r',
      phase: 'Accepted',
      time: new Date().toISOString(),
    });
  try {
    client.start();
    const { value } = await waitFor(
      `a ${route} error`,
      () => errors.find((e) => e.startsWith(route === 'assignments' ? 'poll' : 'events')),
      30_000,
    );
    return { error: value.replace(/^(poll|events): /, ''), pending: pendingAtError };
  } finally {
    await client.stop(0);
    await cp.close();
  }
}

/** The shipper's first upload of three records to a sink whose answer is `kind`; the cursor after it. */
async function ship(
  url: string,
  name: string,
  options: { timeoutMs: number; batch: number; pollMs: number; backoff: { initialMs: number; maxMs: number } },
): Promise<Outcome & { seq: number }> {
  const audit = join(dir, name);
  const log = await FileAuditLog.open(audit);
  for (let i = 0; i < 3; i++)
    await log.append({
      decision_id: `d-${i}`,
      timestamp: new Date().toISOString(),
      stage: 'evaluate',
      outcome: 'allow',
      message: 'm',
      runner: 'r',
      labels: { runner: 'r' },
    });
  await log.close();
  const errors: string[] = [];
  const shipper = new AuditShipper(audit, { url, ...options, onError: (m) => errors.push(m), signer: newSigner() });
  shipper.start();
  try {
    const cursor = () =>
      readFile(join(audit, SHIP_CURSOR), 'utf8').then(
        (t) => (JSON.parse(t) as { seq: number }).seq,
        () => 0,
      );
    await waitFor(
      'the cursor moved or an error',
      async () => errors.length > 0 || (await cursor()) > 0,
      options.timeoutMs + 20_000,
    );
    return { error: errors[0], seq: await cursor() };
  } finally {
    await shipper.stop();
  }
}

async function bundle(url: string): Promise<Outcome> {
  const store = { adopt: () => Promise.resolve({ kind: 'swapped' as const }) };
  const poller = new BundlePoller(
    { url, target: join(dir, 'b.tar.gz'), intervalMs: 1000, maxBackoffMs: 1000, timeoutMs: TIMEOUT_MS },
    store,
    { polled: () => undefined },
  );
  const r = await poller.pollOnce();
  return { error: r.kind === 'failed' || r.kind === 'rejected' ? r.reason : undefined };
}

/** What each reader must make of each variant: the error's pattern, or undefined (taken). */
const expected: Record<string, (kind: Hostile) => RegExp | undefined> = {
  jwks: (k) => (k === 'slow-endless' ? TIMED_OUT : TOO_LARGE),
  poll: (k) => (k === 'slow-endless' ? TIMED_OUT : TOO_LARGE),
  events: (k) => (k === 'slow-endless' ? TIMED_OUT : TOO_LARGE),
  // The sink's answer is not used: the status (200) decides, whatever follows it.
  ship: () => undefined,
  bundle: (k) => (k === 'slow-endless' ? TIMED_OUT : /^bundle larger than 33554432 bytes$/),
};

for (const kind of HOSTILE) {
  test(`every network reader bounds a ${kind} answer: coded error or timeout, RSS growth under ${RSS_BOUND_MIB} MiB`, async () => {
    const log: Answered[] = [];
    const srv = await loopback((_req, res) => answerHostile(kind, bomb, res, log));
    try {
      const runs: Record<string, () => Promise<Outcome & { seq?: number; pending?: number }>> = {
        jwks: () => jwks(`${srv.url}/jwks.json`),
        // The poll's timeout is the long-poll's: (wait + 10) s.
        poll: () => controlPlane('assignments', kind, log),
        events: () => controlPlane('events', kind, log),
        ship: () =>
          ship(`${srv.url}/logs`, `ship-${kind}`, {
            timeoutMs: TIMEOUT_MS,
            batch: 100,
            pollMs: 50,
            backoff: { initialMs: 20, maxMs: 200 },
          }),
        bundle: () => bundle(`${srv.url}/bundle.tar.gz`),
      };
      for (const [reader, run] of Object.entries(runs)) {
        const started = Date.now();
        const { value, growthMiB } = await rssGrowth(run);
        const elapsed = Date.now() - started;
        const want = (expected[reader] as (k: Hostile) => RegExp | undefined)(kind);
        if (want === undefined) assert.equal(value.error, undefined, `${reader}/${kind}: taken, got ${value.error}`);
        else assert.match(value.error ?? '(no error)', want, `${reader}/${kind}`);
        if (reader === 'ship') assert.equal(value.seq, 3, `${reader}/${kind}: the batch counts as shipped`);
        if (reader === 'events') assert.equal(value.pending, 1, 'the event stays queued');
        // The bundle reader may hold its own bound (32 MiB) before it refuses: that on top.
        const allowed = RSS_BOUND_MIB + (reader === 'bundle' ? 32 : 0);
        assert.ok(growthMiB < allowed, `${reader}/${kind}: RSS grew ${growthMiB.toFixed(1)} MiB`);
        const last = log.at(-1);
        assert.ok(last !== undefined && last.kind === kind, `${reader}/${kind}: the hostile answer was served`);
        await waitFor(`${reader}/${kind}: the client hung up`, () => last.closedEarly || kind === 'gzip-bomb', 5000);
        if (kind !== 'gzip-bomb')
          assert.ok(last.written < 64 * 1024 * 1024, `${reader}/${kind}: stopped early (${last.written} B sent)`);
        if (kind === 'slow-endless')
          assert.ok(elapsed < 15_000, `${reader}/${kind}: ended by the request's timeout (${elapsed} ms)`);
        console.log(`# ${reader}/${kind}: ${value.error ?? 'taken'}; RSS +${growthMiB.toFixed(1)} MiB; ${elapsed} ms`);
      }
    } finally {
      await srv.close();
    }
  });
}

test('the bounds: JWKS 1 MiB as a JWKS file; a poll answer 10 + 10 tokens of maxTokenBytes plus 64 KiB', () => {
  assert.equal(JWKS_ANSWER_MAX_BYTES, 1024 * 1024);
  assert.equal(pollAnswerMaxBytes(64 * 1024), 1_376_256);
  assert.equal(pollAnswerMaxBytes(1024 * 1024), 21_037_056);
});

test('a poll answer exactly at its bound is read; one byte more is NETWORK_ANSWER_TOO_LARGE, before parsing', async () => {
  const maxTokenBytes = 1024;
  const max = pollAnswerMaxBytes(maxTokenBytes);
  const at = (n: number): string => {
    const head = '{"assignments":["';
    const tail = '"]}';
    return head + 'a'.repeat(n - head.length - tail.length) + tail;
  };
  for (const [size, wantTaken] of [
    [max, true],
    [max + 1, false],
  ] as const) {
    let body = at(size);
    const cp = await loopback((req, res) => {
      if (req.url?.includes('/assignments')) {
        const b = body;
        body = '';
        if (b === '') return void setTimeout(() => res.writeHead(204).end(), 50);
        return void res.writeHead(200, { 'content-type': 'application/json' }).end(b);
      }
      res.writeHead(200).end('{}');
    });
    const errors: string[] = [];
    const got: number[] = [];
    const client = new ControlPlaneClient(
      clientOptions(cp.url, { maxTokenBytes }, errors),
      (t) => {
        got.push(t.length);
        return Promise.resolve();
      },
      () => true,
    );
    try {
      client.start();
      await waitFor('the answer handled', () => got.length > 0 || errors.some((e) => e.startsWith('poll')), 10_000);
      if (wantTaken)
        assert.deepEqual(got, [size - 20], 'the token reaches intake, which refuses it unparsed (RECEIVE_TOO_LARGE)');
      else
        assert.match(
          errors.find((e) => e.startsWith('poll')) ?? '',
          /^poll: NETWORK_ANSWER_TOO_LARGE: the poll answer is larger than 86016 bytes/,
        );
    } finally {
      await client.stop(0);
      await cp.close();
    }
  }
});

test('red team 17, finding 1, as reported: the shipper with compose.ts options and the 1,565,468-byte bomb (1536 MiB decoded)', async () => {
  const big = await gzipBomb(1536);
  assert.equal(big.length, 1_565_468);
  const log: Answered[] = [];
  const sink = await loopback((_req, res) => answerHostile('gzip-bomb', big, res, log));
  try {
    // src/app/compose.ts: batch (chart default) 500, interval 5 s, timeout 10 s, backoff 1 s … 60 s.
    const { value, growthMiB } = await rssGrowth(() =>
      ship(`${sink.url}/logs`, 'ship-reported', {
        timeoutMs: 10_000,
        batch: 500,
        pollMs: 5000,
        backoff: { initialMs: 1000, maxMs: 60_000 },
      }),
    );
    assert.equal(value.error, undefined);
    assert.equal(value.seq, 3, 'the batch counts as shipped: the cursor moved (no resend loop)');
    assert.ok(growthMiB < RSS_BOUND_MIB, `RSS grew ${growthMiB.toFixed(1)} MiB (reported: 1269 MiB)`);
    // And the JWKS fetch against the same bomb (reported: 1612 MiB, then a timeout).
    const j = await rssGrowth(() => jwks(`${sink.url}/jwks.json`, 10_000));
    assert.match(j.value.error ?? '', TOO_LARGE);
    assert.ok(j.growthMiB < RSS_BOUND_MIB, `JWKS: RSS grew ${j.growthMiB.toFixed(1)} MiB`);
  } finally {
    await sink.close();
  }
});

test('red team 17, finding 1, as reported: the poll answered with {"assignments":["a…(600 MiB)"]} gzip (611,548 bytes)', async () => {
  const cpBomb = await gzipBomb(600, 0x61, '{"assignments":["', '"]}');
  assert.equal(cpBomb.length, 611_548);
  const log: Answered[] = [];
  let polls = 0;
  const cp = await loopback((req, res) => {
    if (req.url?.includes('/assignments') && polls++ === 0) return answerHostile('gzip-bomb', cpBomb, res, log);
    if (req.url?.includes('/assignments')) return void setTimeout(() => res.writeHead(204).end(), 50);
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"acked":[]}');
  });
  const errors: string[] = [];
  const got: string[] = [];
  // src/app/control-plane-link.ts: wait 20 s, timeout 10 s, the default maxTokenBytes (64 KiB).
  const client = new ControlPlaneClient(
    clientOptions(cp.url, { pollWaitSeconds: 20, requestTimeoutMs: 10_000 }, errors),
    (t) => {
      got.push(t);
      return Promise.resolve();
    },
    () => true,
  );
  try {
    const { growthMiB } = await rssGrowth(async () => {
      client.start();
      await waitFor('the poll refused', () => errors.some((e) => e.startsWith('poll')), 30_000);
    });
    assert.match(
      errors.find((e) => e.startsWith('poll')) ?? '',
      /^poll: NETWORK_ANSWER_TOO_LARGE: the poll answer is larger than 1376256 bytes/,
    );
    assert.deepEqual(got, [], 'nothing reached intake');
    assert.ok(growthMiB < RSS_BOUND_MIB, `RSS grew ${growthMiB.toFixed(1)} MiB (reported: 1398 MiB peak)`);
  } finally {
    await client.stop(0);
    await cp.close();
  }
});
