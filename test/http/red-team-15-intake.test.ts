// Red team 15: the HTTP intake as a client that does not follow the happy path sees it, over raw
// sockets against the real server (createHttpServer with the real admission: receive, verify,
// validate, claim; in-memory runs and audit). Four classes (docs/reviews/2026-12-02-red-team-15.md):
//   1. the headers timeout enforced only at Node's 30 s connection sweep,
//   2. a body over the limit read to its end (or the timeout) before it is refused,
//   3. a client that goes away mid-body counted as a 500 (INTERNAL, "a bug"),
//   4. a content coding ignored: the bytes are judged as if no coding had been applied,
//   5. a request Node's parser refuses answered outside the catalogue (no {code, message}) and
//      never counted in kubiya_http_requests_total.
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { createHttpServer } from '../../src/adapters/http-server.ts';
import { admit } from '../../src/admission/admit.ts';
import { cancelRun } from '../../src/admission/cancel.ts';
import { signAssignment } from '../../src/dev/sign.ts';
import type { PipelineDeps } from '../../src/pipeline/deps.ts';
import { createMetrics } from '../../src/observe/metrics.ts';
import { testPipelineConfig } from '../support/config.ts';
import { MemoryAudit, MemoryRuns, MemoryTrustedKeys, memoryCluster } from '../support/memory.ts';
import { ISSUER, RUNNER, testKeys, workflow } from '../support/tokens.ts';

const { key, keys } = await testKeys();
const LIMIT = 64 * 1024;
/** requestTimeoutMs of the server under test; its headers timeout is the same (min with 10 s). */
const TIMEOUT_MS = 1000;

let jtis = 0;
const token = (): Promise<string> =>
  signAssignment(key, {
    issuer: ISSUER,
    audience: RUNNER,
    workflow: { ...workflow(), runId: `run-${++jtis}` },
    now: new Date(),
    jti: `rt15-${jtis}`,
  });

interface Answer {
  readonly text: string;
  /** ms from connect until the server closed the connection (or `waitMs` if it did not). */
  readonly closedAfterMs: number;
  readonly closed: boolean;
}

/** Opens a socket, lets `act` write to it, and collects what comes back until close or `waitMs`. */
function exchange(port: number, act: (s: Socket) => void, waitMs: number): Promise<Answer> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    let text = '';
    const sock = connect(port, '127.0.0.1', () => act(sock));
    const timer = setTimeout(() => {
      sock.destroy();
      resolve({ text, closedAfterMs: Date.now() - t0, closed: false });
    }, waitMs);
    sock.on('data', (d: Buffer) => (text += d.toString('latin1')));
    sock.on('error', () => undefined);
    sock.on('close', () => {
      clearTimeout(timer);
      resolve({ text, closedAfterMs: Date.now() - t0, closed: true });
    });
  });
}

const head = (extra: string) =>
  `POST /v1/assignments HTTP/1.1\r\nHost: runner\r\nContent-Type: application/jwt\r\n${extra}\r\n`;
const codeOf = (text: string) => /"code":"([A-Z_]+)"/.exec(text)?.[1];
const messageOf = (text: string) => /"message":"([^"]*)"/.exec(text)?.[1];

describe('red team 15: the HTTP intake against clients off the happy path (raw sockets, real admission)', () => {
  let server: Server;
  let port: number;
  let deps: PipelineDeps & { audit: MemoryAudit };
  const metrics = createMetrics(RUNNER);
  const statuses: number[] = [];

  before(async () => {
    deps = {
      config: testPipelineConfig(),
      keys,
      policy: () => undefined,
      audit: new MemoryAudit(),
      ...memoryCluster(),
      runs: new MemoryRuns(),
      trust: new MemoryTrustedKeys(),
      now: () => new Date(),
      newId: () => crypto.randomUUID(),
    };
    server = createHttpServer({
      admit: (raw) => admit(raw, deps),
      start: () => undefined,
      cancel: (raw) => cancelRun(raw, deps),
      hasCapacity: () => true,
      draining: () => false,
      ready: () => Promise.resolve({ ready: true, checks: {} }),
      metrics: async () => ({ contentType: metrics.registry.contentType, body: await metrics.registry.metrics() }),
      observed: (_route, status) => statuses.push(status),
      maxBodyBytes: LIMIT,
      requestTimeoutMs: TIMEOUT_MS,
      maxConnections: 256,
      connectionRefused: () => undefined,
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  // Class 1. Node checks headersTimeout/requestTimeout only at its connection sweep, every
  // connectionsCheckingInterval (30 s unless set): a 1 s headers timeout held connections 30 s.
  const slowHeaders: [string, (s: Socket) => void][] = [
    ['a connection that sends nothing', () => undefined],
    ['half a request line, then silence', (s) => s.write('GET /hea')],
    [
      'headers one byte every 200 ms',
      (s) => {
        const text = `GET /healthz HTTP/1.1\r\nHost: runner\r\nX-Pad: ${'a'.repeat(200)}\r\n\r\n`;
        let i = 0;
        const drip = setInterval(
          () => (s.destroyed || i >= text.length ? clearInterval(drip) : s.write(text[i++]!)),
          200,
        );
      },
    ],
  ];
  for (const [name, act] of slowHeaders) {
    test(`slow headers: ${name} is closed with 408 within twice the headers timeout + 1 s (was 30 s)`, async () => {
      const a = await exchange(port, act, 8000);
      assert.ok(a.closed, `still open after ${a.closedAfterMs} ms`);
      assert.ok(a.closedAfterMs < 2 * TIMEOUT_MS + 1000, `closed after ${a.closedAfterMs} ms`);
      assert.match(a.text, /^HTTP\/1\.1 408 /);
    });
  }

  // Class 2. A body over maxTokenBytes: refused 413 RECEIVE_TOO_LARGE (audited at receive) at once,
  // the connection closed, never a 100 Continue that invites it, never a 408 after waiting for it.
  const tooLarge: [string, (s: Socket) => void, RegExp][] = [
    [
      'Content-Length 10 GB, 1 KiB of it sent',
      (s) => s.write(head('Content-Length: 10000000000\r\n') + 'a'.repeat(1024)),
      /^assignment is 10000000000 bytes \(Content-Length\); the limit is 65536$/,
    ],
    [
      'Content-Length 10 GB with Expect: 100-continue, nothing sent',
      (s) => s.write(head('Content-Length: 10000000000\r\nExpect: 100-continue\r\n')),
      /^assignment is 10000000000 bytes \(Content-Length\); the limit is 65536$/,
    ],
    [
      'chunked, 70 KiB sent and no end',
      (s) => {
        s.write(head('Transfer-Encoding: chunked\r\n'));
        s.write(`${(70 * 1024).toString(16)}\r\n${'a'.repeat(70 * 1024)}\r\n`);
      },
      /^assignment is more than 65536 bytes; the limit is 65536$/,
    ],
  ];
  for (const [name, act, message] of tooLarge) {
    test(`over the limit: ${name} → 413 RECEIVE_TOO_LARGE at once, audited, connection closed`, async () => {
      const denials = deps.audit.records.filter((r) => r.stage === 'receive').length;
      const a = await exchange(port, act, 5000);
      assert.match(a.text, /^HTTP\/1\.1 413 /, a.text.slice(0, 80));
      assert.doesNotMatch(a.text, /100 Continue/);
      assert.equal(codeOf(a.text), 'RECEIVE_TOO_LARGE');
      assert.match(messageOf(a.text) ?? '', message);
      assert.ok(a.closed && a.closedAfterMs < TIMEOUT_MS, `closed: ${a.closed} after ${a.closedAfterMs} ms`);
      assert.equal(deps.audit.records.filter((r) => r.stage === 'receive').length, denials + 1);
    });
  }

  test('over the limit, the concrete case: 1 MiB sent whole with its Content-Length is reported as 1048576 bytes, not 65537', async () => {
    const a = await exchange(port, (s) => s.write(head('Content-Length: 1048576\r\n') + 'a'.repeat(1048576)), 5000);
    assert.equal(messageOf(a.text), 'assignment is 1048576 bytes (Content-Length); the limit is 65536');
  });

  test('Expect: 100-continue under the limit still gets its 100 Continue, then 202', async () => {
    const t = await token();
    const a = await exchange(
      port,
      (s) => {
        s.write(head(`Content-Length: ${t.length}\r\nExpect: 100-continue\r\nConnection: close\r\n`));
        s.once('data', () => s.write(t));
      },
      5000,
    );
    assert.match(a.text, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 202 /);
  });

  // Class 3. The client goes away mid-body: nothing to answer, and not a server error.
  test('a client that closes mid-body is not counted as 500 INTERNAL', async () => {
    const before = statuses.length;
    await exchange(
      port,
      (s) => {
        s.write(head('Content-Length: 1000\r\n') + 'abc');
        setTimeout(() => s.destroy(), 100);
      },
      1000,
    );
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(statuses.slice(before), [499]);
  });

  // Class 4. A content coding: refused 415 (audited), whatever the bytes; identity is no coding.
  const codings: [string, () => Promise<Buffer>, number, string | undefined][] = [
    ['gzip over a gzipped token', async () => gzipSync(await token()), 415, 'RECEIVE_UNSUPPORTED_MEDIA_TYPE'],
    [
      'gzip over the plain token (was accepted)',
      async () => Buffer.from(await token()),
      415,
      'RECEIVE_UNSUPPORTED_MEDIA_TYPE',
    ],
    ['br', async () => Buffer.from(await token()), 415, 'RECEIVE_UNSUPPORTED_MEDIA_TYPE'],
    ['deflate, gzip', async () => Buffer.from(await token()), 415, 'RECEIVE_UNSUPPORTED_MEDIA_TYPE'],
    ['identity', async () => Buffer.from(await token()), 202, undefined],
    ['IDENTITY', async () => Buffer.from(await token()), 202, undefined],
  ];
  for (const [coding, body, status, code] of codings) {
    test(`Content-Encoding: ${coding} → ${status}${code === undefined ? '' : ` ${code}`}`, async () => {
      const bytes = await body();
      const a = await exchange(
        port,
        (s) => {
          s.write(head(`Content-Encoding: ${coding}\r\nContent-Length: ${bytes.length}\r\nConnection: close\r\n`));
          s.write(bytes);
        },
        5000,
      );
      assert.match(a.text, new RegExp(`^HTTP/1\\.1 ${status} `), a.text.slice(0, 200));
      assert.equal(codeOf(a.text), code);
    });
  }

  // Class 5. What Node's parser refuses (smuggling shapes, oversized headers, the headers
  // timeout) is answered like every other error: {code, message} from the catalogue, counted.
  const malformed: [string, string, number, string][] = [
    [
      'Content-Length and Transfer-Encoding',
      head('Content-Length: 5\r\nTransfer-Encoding: chunked\r\n') + '0\r\n\r\n',
      400,
      'HTTP_BAD_REQUEST',
    ],
    [
      'two different Content-Lengths',
      head('Content-Length: 3\r\nContent-Length: 4\r\n') + 'abcd',
      400,
      'HTTP_BAD_REQUEST',
    ],
    [
      'Transfer-Encoding: chunked, identity',
      head('Transfer-Encoding: chunked, identity\r\n') + '0\r\n\r\n',
      400,
      'HTTP_BAD_REQUEST',
    ],
    [
      'a space before the colon',
      'POST /v1/assignments HTTP/1.1\r\nHost: x\r\nContent-Length : 3\r\n\r\nabc',
      400,
      'HTTP_BAD_REQUEST',
    ],
    ['obs-fold', 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\r\n  b\r\n\r\n', 400, 'HTTP_BAD_REQUEST'],
    ['a lower-case method', 'get /healthz HTTP/1.1\r\nHost: x\r\n\r\n', 400, 'HTTP_BAD_REQUEST'],
    ['an HTTP/2 preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 400, 'HTTP_BAD_REQUEST'],
    [
      '17 KB of headers',
      `GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: ${'a'.repeat(17_000)}\r\n\r\n`,
      431,
      'HTTP_HEADERS_TOO_LARGE',
    ],
  ];
  for (const [name, request, status, code] of malformed) {
    test(`refused by the parser: ${name} → ${status} ${code} as JSON, counted, connection closed`, async () => {
      const before = statuses.length;
      const a = await exchange(port, (s) => s.write(request), 3000);
      assert.match(a.text, new RegExp(`^HTTP/1\\.1 ${status} `), a.text.slice(0, 120));
      assert.match(a.text, /\r\ncontent-type: application\/json\r\n/i);
      const body = JSON.parse(a.text.slice(a.text.indexOf('\r\n\r\n') + 4)) as Record<string, unknown>;
      assert.deepEqual(Object.keys(body).sort(), ['code', 'message']);
      assert.equal(body.code, code);
      assert.ok(a.closed);
      assert.deepEqual(statuses.slice(before), [status]);
    });
  }

  test('a malformed request after a kept-alive one on the same connection is still answered 400 as JSON', async () => {
    const a = await exchange(
      port,
      (s) => {
        s.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
        s.once('data', () => s.write(head('Content-Length: 3\r\nContent-Length: 4\r\n') + 'abcd'));
      },
      3000,
    );
    assert.match(a.text, /^HTTP\/1\.1 200 [\s\S]*HTTP\/1\.1 400 [\s\S]*"code":"HTTP_BAD_REQUEST"/);
  });

  test('the headers timeout is answered 408 HTTP_TIMEOUT as JSON and counted', async () => {
    const before = statuses.length;
    const a = await exchange(port, (s) => s.write('GET /hea'), 8000);
    assert.match(a.text, /^HTTP\/1\.1 408 /);
    assert.match(a.text, /"code":"HTTP_TIMEOUT"/);
    assert.deepEqual(statuses.slice(before), [408]);
  });
});
