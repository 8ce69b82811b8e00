import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { ControlPlaneEvent } from '../adapters/control-plane-event.ts';
import { jwks, type SigningKey } from './sign.ts';

/** Fault injection for tests: refuse connections, answer 503, hang 3 s, send garbage, or 503 on events only. */
export type ControlPlaneFault = 'none' | 'down' | 'error' | 'slow' | 'garbage' | 'events';

/**
 * The reference control plane's memory, shared by its routes and its test API: signing keys (the
 * last one signs), per-runner queues of signed assignments and cancellations, the long-poll
 * waiters to wake, and what runners posted (registrations, heartbeat counts, step events, once each).
 */
export interface ControlPlaneState {
  readonly keys: SigningKey[];
  readonly queues: Map<string, string[]>;
  readonly cancels: Map<string, string[]>;
  readonly waiters: Map<string, Set<() => void>>;
  readonly events: ControlPlaneEvent[];
  readonly seen: Set<string>;
  readonly registered: Map<string, unknown>;
  readonly heartbeats: Map<string, number>;
  fault: ControlPlaneFault;
}

type Route = (state: ControlPlaneState, runner: string, req: IncomingMessage, res: ServerResponse) => Promise<void>;

async function body(req: IncomingMessage, limit = 1024 * 1024): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).byteLength;
    if (size > limit) throw new Error('body too large');
    chunks.push(c as Buffer);
  }
  return chunks.length === 0 ? {} : JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

function json(res: ServerResponse, status: number, value: unknown): void {
  const text = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/**
 * The HTTP handler: `GET /.well-known/jwks.json` without a token; with `Authorization: Bearer
 * <token>`, `POST register|heartbeat|events` and `GET assignments?wait=<s>` under
 * `/v1/runners/<runner>/`. 401 without the token, 404 for another path, 405 for another method,
 * 400 for a body that is not JSON or over 1 MiB.
 */
export function controlPlaneHandler(state: ControlPlaneState, token: string): RequestListener {
  return (req, res) => {
    void handle(state, token, req, res).catch(() => {
      if (!res.headersSent) json(res, 400, { code: 'BAD_REQUEST' });
    });
  };
}

async function handle(
  state: ControlPlaneState,
  token: string,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://cp');
  if (state.fault === 'down') return void req.socket.destroy();
  if (url.pathname === '/.well-known/jwks.json') return json(res, 200, jwks(state.keys));
  if (req.headers.authorization !== `Bearer ${token}`)
    return json(res, 401, { code: 'UNAUTHORIZED', message: 'runner token required' });
  if (state.fault === 'error') return json(res, 503, { code: 'UNAVAILABLE' });
  if (state.fault === 'garbage') {
    res.writeHead(200, { 'content-type': 'application/json' });
    return void res.end('{"assignments": [not json');
  }
  if (state.fault === 'slow') await new Promise((r) => setTimeout(r, 3000));
  const m = /^\/v1\/runners\/([a-z0-9-]{1,63})\/(register|heartbeat|assignments|events)$/.exec(url.pathname);
  if (m === null) return json(res, 404, { code: 'NOT_FOUND' });
  const [, runner = '', op = ''] = m;
  const route = ROUTES[`${req.method ?? ''} ${op}`];
  if (route === undefined) return json(res, 405, { code: 'METHOD_NOT_ALLOWED' });
  await route(state, runner, req, res);
}

const ROUTES: Readonly<Record<string, Route>> = {
  'POST register': async (state, runner, req, res) => {
    state.registered.set(runner, await body(req));
    json(res, 200, { heartbeatSeconds: 10 });
  },
  'POST heartbeat': async (state, runner, req, res) => {
    state.heartbeats.set(runner, (state.heartbeats.get(runner) ?? 0) + 1);
    await body(req);
    json(res, 200, {});
  },
  'GET assignments': assignments,
  'POST events': events,
};

/** Long-poll: waits up to `wait` seconds (at most 30) for work, then hands out up to 10 of each kind, or 204. */
async function assignments(
  state: ControlPlaneState,
  runner: string,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://cp');
  const waitMs = Math.min(30_000, Number(url.searchParams.get('wait') ?? '0') * 1000);
  const q = state.queues.get(runner) ?? [];
  if (q.length === 0 && (state.cancels.get(runner) ?? []).length === 0 && waitMs > 0)
    await waitForWork(state, runner, req, waitMs);
  const batch = (state.queues.get(runner) ?? []).splice(0, 10);
  const cancellations = (state.cancels.get(runner) ?? []).splice(0, 10);
  if (batch.length === 0 && cancellations.length === 0) res.writeHead(204).end();
  else json(res, 200, { assignments: batch, ...(cancellations.length > 0 ? { cancellations } : {}) });
}

/** Resolves when work is queued for the runner (wake), the wait passes, or the client goes away. */
function waitForWork(state: ControlPlaneState, runner: string, req: IncomingMessage, waitMs: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const set = state.waiters.get(runner) ?? new Set<() => void>();
    const done = (): void => {
      set.delete(done);
      clearTimeout(t);
      resolve();
    };
    const t = setTimeout(done, waitMs);
    set.add(done);
    state.waiters.set(runner, set);
    req.once('close', done);
  });
}

/** Records each posted step event once (by id) and acknowledges every id it was sent. */
async function events(
  state: ControlPlaneState,
  _runner: string,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  if (state.fault === 'events') return json(res, 503, { code: 'UNAVAILABLE' });
  const b = (await body(req)) as { events?: ControlPlaneEvent[] };
  const acked: string[] = [];
  for (const e of b.events ?? []) {
    if (!state.seen.has(e.id)) {
      state.seen.add(e.id);
      state.events.push(e);
    }
    acked.push(e.id);
  }
  json(res, 200, { acked });
}
