import { createServer, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { httpStatusOf, type ErrorCode } from '../errors/codes.ts';
import type { Result } from '../errors/result.ts';
import type { AdmittedRun } from '../run/admitted.ts';
import type { RawAssignment } from '../receive/receive.ts';
import { routeOf, type Route } from './http-route.ts';

export interface ReadyReport {
  readonly ready: boolean;
  /** Each check; `policy` also names the key that verified the bundle (`keyid`), when one did. */
  readonly checks: Readonly<
    Record<string, { readonly ok: boolean; readonly detail?: string; readonly keyid?: string }>
  >;
}

/** What the HTTP adapter needs from the application; it knows nothing else. */
export interface HttpApp {
  admit(raw: RawAssignment): Promise<Result<AdmittedRun>>;
  /** Hands an admitted run to the reconciler. */
  start(run: AdmittedRun): void;
  /** A signed cancellation: marks the run it names. */
  cancel(raw: RawAssignment): Promise<Result<{ readonly run: string }>>;
  /** True while another workflow may start (workflow.maxConcurrent). */
  hasCapacity(): boolean;
  draining(): boolean;
  ready(): Promise<ReadyReport>;
  metrics(): Promise<{ contentType: string; body: string }>;
  observed(route: string, status: number): void;
  /** Bytes read from a body at most (the receive stage judges the size; one more byte proves "too large"). */
  readonly maxBodyBytes: number;
  readonly requestTimeoutMs: number;
  /** Connections open at once (server.maxConnections); one more is closed when accepted, unread. */
  readonly maxConnections: number;
  /** A connection was closed unread because maxConnections were open. */
  connectionRefused(): void;
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(text);
}

function sendError(
  res: ServerResponse,
  code: ErrorCode,
  message: string,
  headers: Record<string, string> = {},
): number {
  const status = httpStatusOf(code);
  send(res, status, { code, message }, headers);
  return status;
}

/**
 * A request body as read: whole, or `over` once limit + 1 bytes have arrived (reading stops
 * there); `timeout` when it did not end within the request timeout; `gone` when the client
 * closed the connection before its end.
 */
type Body = { readonly bytes: Buffer; readonly over: boolean } | 'timeout' | 'gone';

/** Reads at most `limit + 1` bytes and stops there (the rest is never read: the answer closes the connection). */
function readBody(req: IncomingMessage, limit: number, timeoutMs: number): Promise<Body> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const settle = (body: Body): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.removeListener('data', onData);
      if (typeof body === 'string' || body.over) req.pause();
      resolve(body);
    };
    const timer = setTimeout(() => settle('timeout'), timeoutMs);
    const onData = (chunk: Buffer): void => {
      const room = limit + 1 - size;
      chunks.push(chunk.byteLength > room ? chunk.subarray(0, room) : chunk);
      size += Math.min(chunk.byteLength, room);
      if (size > limit) settle({ bytes: Buffer.concat(chunks), over: true });
    };
    req.on('data', onData);
    req.on('end', () => settle({ bytes: Buffer.concat(chunks), over: false }));
    // A client that closes before the end: 'error' (ECONNRESET, "aborted") and/or 'close' without 'end'.
    req.on('error', () => settle('gone'));
    req.on('close', () => {
      if (!req.complete) settle('gone');
    });
  });
}

/** Status recorded for a request whose client went away before its body arrived: nothing is answered (nginx's 499). */
const CLIENT_GONE = 499;

/**
 * The body of an assignment or cancellation as receive judges it: a declared Content-Length over
 * the limit is refused unread, else the body is read (after the 100 Continue the client waits
 * for, if it asked) up to limit + 1 bytes. An answer after a body not read to its end closes the
 * connection.
 */
async function bodyOf(
  app: HttpApp,
  req: IncomingMessage,
  res: ServerResponse,
  expectsContinue: boolean,
): Promise<{ raw: RawAssignment; close: boolean } | 'timeout' | 'gone'> {
  const contentType = req.headers['content-type'] ?? '';
  const contentEncoding = req.headers['content-encoding'];
  const length = req.headers['content-length'];
  const declared = length === undefined ? undefined : Number(length);
  if (declared !== undefined && declared > app.maxBodyBytes) {
    return { raw: { body: new Uint8Array(0), contentType, contentEncoding, over: { declared } }, close: true };
  }
  if (expectsContinue) res.writeContinue();
  const body = await readBody(req, app.maxBodyBytes, app.requestTimeoutMs);
  if (body === 'timeout' || body === 'gone') return body;
  const over = body.over ? { over: {} } : {};
  return { raw: { body: body.bytes, contentType, contentEncoding, ...over }, close: body.over };
}

/**
 * The body handed to `take` (admission or cancellation): its success, or the status answered
 * (its refusal, the timeout, or nothing for a client gone).
 */
async function taken<T>(
  app: HttpApp,
  req: IncomingMessage,
  res: ServerResponse,
  expectsContinue: boolean,
  take: (raw: RawAssignment) => Promise<Result<T>>,
): Promise<{ readonly value: T } | number> {
  const body = await bodyOf(app, req, res, expectsContinue);
  if (body === 'gone') return CLIENT_GONE;
  if (body === 'timeout')
    return sendError(res, 'HTTP_TIMEOUT', 'the request body did not arrive in time', { connection: 'close' });
  const result = await take(body.raw);
  if (!result.ok)
    return sendError(res, result.error.code, result.error.message, body.close ? { connection: 'close' } : {});
  return result;
}

const METHODS: Record<Exclude<Route, 'unknown'>, string> = {
  healthz: 'GET',
  ready: 'GET',
  metrics: 'GET',
  assignments: 'POST',
  cancellations: 'POST',
};

async function handle(
  app: HttpApp,
  req: IncomingMessage,
  res: ServerResponse,
  route: Route,
  expectsContinue: boolean,
): Promise<number> {
  if (route === 'unknown') return sendError(res, 'HTTP_NOT_FOUND', 'no such endpoint');
  const method = METHODS[route];
  if (req.method !== method && !(method === 'GET' && req.method === 'HEAD')) {
    return sendError(res, 'HTTP_METHOD_NOT_ALLOWED', `use ${method}`, { allow: method });
  }
  switch (route) {
    case 'healthz':
      send(res, 200, { status: 'ok' });
      return 200;
    case 'ready': {
      const report = await app.ready();
      if (report.ready) {
        send(res, 200, report);
        return 200;
      }
      send(res, 503, { code: 'NOT_READY', message: 'not ready', ...report });
      return 503;
    }
    case 'metrics': {
      const { contentType, body } = await app.metrics();
      res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' });
      res.end(body);
      return 200;
    }
    case 'assignments': {
      if (app.draining())
        return sendError(res, 'SHUTTING_DOWN', 'the runner is shutting down', { connection: 'close' });
      if (!app.hasCapacity())
        return sendError(res, 'CAPACITY_EXCEEDED', 'the runner is running its maximum number of workflows', {
          'retry-after': '5',
        });
      const run = await taken(app, req, res, expectsContinue, (raw) => app.admit(raw));
      if (typeof run === 'number') return run;
      app.start(run.value);
      send(res, 202, {
        run: run.value.name,
        workflow: run.value.ref.id,
        runId: run.value.ref.runId,
        steps: run.value.workflow.steps.length,
      });
      return 202;
    }
    case 'cancellations': {
      if (app.draining())
        return sendError(res, 'SHUTTING_DOWN', 'the runner is shutting down', { connection: 'close' });
      const cancelled = await taken(app, req, res, expectsContinue, (raw) => app.cancel(raw));
      if (typeof cancelled === 'number') return cancelled;
      send(res, 202, { run: cancelled.value.run });
      return 202;
    }
  }
}

/**
 * What Node's parser refuses (a malformed or ambiguous request: Content-Length with
 * Transfer-Encoding, two lengths, obs-fold; headers over 16 KiB; the headers timeout) is answered
 * like every other error, `{code, message}` from the catalogue, counted as route `unknown`, and
 * the connection closed.
 */
function refuseUnparsed(app: HttpApp, e: NodeJS.ErrnoException, socket: Duplex): void {
  // A request already handed over (its response object attached) is answered and counted by its
  // handler (a body cut short: 499); a connection that ended mid-message is gone.
  const attached = (socket as { _httpMessage?: unknown })._httpMessage;
  const handled = attached !== undefined && attached !== null;
  if (e.code === 'ECONNRESET' || e.code === 'HPE_INVALID_EOF_STATE' || !socket.writable || handled) {
    socket.destroy();
    return;
  }
  const [code, message]: [ErrorCode, string] =
    e.code === 'HPE_HEADER_OVERFLOW'
      ? ['HTTP_HEADERS_TOO_LARGE', 'the request headers are too large']
      : e.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? ['HTTP_TIMEOUT', 'the request did not arrive in time']
        : ['HTTP_BAD_REQUEST', 'the request is not well-formed HTTP/1.1'];
  const status = httpStatusOf(code);
  const text = JSON.stringify({ code, message });
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\ncontent-type: application/json\r\n` +
      `content-length: ${Buffer.byteLength(text)}\r\ncache-control: no-store\r\nconnection: close\r\n\r\n${text}`,
  );
  app.observed('unknown', status);
}

/**
 * The runner's HTTP surface on one port: /healthz, /ready, /metrics, POST /v1/assignments,
 * POST /v1/cancellations.
 * Errors are `{code, message}` from the catalogue; no stack trace or internal detail leaves.
 * node:http directly: five fixed routes do not need a framework, and the body cap must apply while
 * reading, before any parsing.
 */
export function createHttpServer(app: HttpApp): Server {
  const headersTimeout = Math.min(app.requestTimeoutMs, 10_000);
  const serve = (req: IncomingMessage, res: ServerResponse, expectsContinue: boolean): void => {
    const route = routeOf(req.url);
    handle(app, req, res, route, expectsContinue)
      .then((status) => app.observed(route, status))
      .catch(() => {
        if (!res.headersSent) sendError(res, 'INTERNAL', 'internal error');
        else res.destroy();
        app.observed(route, 500);
      });
  };
  // Node enforces headersTimeout and requestTimeout only when it sweeps its connections, every
  // connectionsCheckingInterval (30 s by default): at most 1 s here, so each holds within ~1 s.
  const server = createServer({ connectionsCheckingInterval: Math.min(1000, headersTimeout) }, (req, res) =>
    serve(req, res, false),
  );
  // Expect: 100-continue: the 100 is sent only once the body will be read (bodyOf), so a request
  // refused before (draining, capacity, a Content-Length over the limit) is never invited to send it.
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => serve(req, res, true));
  server.on('clientError', (e: NodeJS.ErrnoException, socket: Duplex) => refuseUnparsed(app, e, socket));
  // A connection past maxConnections is closed by Node as it is accepted (no parser, no timer, no
  // fd kept); 'drop' reports it. Its client sees the connection closed with no answer, and retries.
  server.maxConnections = app.maxConnections;
  server.on('drop', () => app.connectionRefused());
  server.requestTimeout = app.requestTimeoutMs + 1000;
  server.headersTimeout = headersTimeout;
  server.keepAliveTimeout = 5000;
  return server;
}
