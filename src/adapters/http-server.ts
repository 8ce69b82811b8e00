import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { httpStatusOf, type ErrorCode } from '../errors/codes.ts';
import type { Result } from '../errors/result.ts';
import type { AdmittedRun } from '../run/admitted.ts';
import type { RawAssignment } from '../receive/receive.ts';

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
}

type Route = 'healthz' | 'ready' | 'metrics' | 'assignments' | 'cancellations' | 'unknown';

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

/** Reads at most `limit + 1` bytes; stops reading (and drops the rest) beyond that. */
function readBody(req: IncomingMessage, limit: number, timeoutMs: number): Promise<Buffer | 'timeout'> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const timer = setTimeout(() => {
      req.removeAllListeners('data');
      resolve('timeout');
    }, timeoutMs);
    req.on('data', (chunk: Buffer) => {
      if (size > limit) return;
      const room = limit + 1 - size;
      chunks.push(chunk.byteLength > room ? chunk.subarray(0, room) : chunk);
      size += Math.min(chunk.byteLength, room);
    });
    req.on('end', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
    req.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

function routeOf(url: string | undefined): Route {
  const path = (url ?? '/').split('?')[0] ?? '/';
  switch (path) {
    case '/healthz':
      return 'healthz';
    case '/ready':
      return 'ready';
    case '/metrics':
      return 'metrics';
    case '/v1/assignments':
      return 'assignments';
    case '/v1/cancellations':
      return 'cancellations';
    default:
      return 'unknown';
  }
}

const METHODS: Record<Exclude<Route, 'unknown'>, string> = {
  healthz: 'GET',
  ready: 'GET',
  metrics: 'GET',
  assignments: 'POST',
  cancellations: 'POST',
};

async function handle(app: HttpApp, req: IncomingMessage, res: ServerResponse, route: Route): Promise<number> {
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
      const body = await readBody(req, app.maxBodyBytes, app.requestTimeoutMs);
      if (body === 'timeout')
        return sendError(res, 'HTTP_TIMEOUT', 'the request body did not arrive in time', { connection: 'close' });
      const run = await app.admit({ body, contentType: req.headers['content-type'] ?? '' });
      if (!run.ok) return sendError(res, run.error.code, run.error.message);
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
      const body = await readBody(req, app.maxBodyBytes, app.requestTimeoutMs);
      if (body === 'timeout')
        return sendError(res, 'HTTP_TIMEOUT', 'the request body did not arrive in time', { connection: 'close' });
      const cancelled = await app.cancel({ body, contentType: req.headers['content-type'] ?? '' });
      if (!cancelled.ok) return sendError(res, cancelled.error.code, cancelled.error.message);
      send(res, 202, { run: cancelled.value.run });
      return 202;
    }
  }
}

/**
 * The runner's HTTP surface on one port: /healthz, /ready, /metrics, POST /v1/assignments,
 * POST /v1/cancellations.
 * Errors are `{code, message}` from the catalogue; no stack trace or internal detail leaves.
 * node:http directly: five fixed routes do not need a framework, and the body cap must apply while
 * reading, before any parsing.
 */
export function createHttpServer(app: HttpApp): Server {
  const server = createServer((req, res) => {
    const route = routeOf(req.url);
    handle(app, req, res, route)
      .then((status) => app.observed(route, status))
      .catch(() => {
        if (!res.headersSent) sendError(res, 'INTERNAL', 'internal error');
        else res.destroy();
        app.observed(route, 500);
      });
  });
  server.requestTimeout = app.requestTimeoutMs + 1000;
  server.headersTimeout = Math.min(app.requestTimeoutMs, 10_000);
  server.keepAliveTimeout = 5000;
  return server;
}
