import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ControlPlaneEvent } from '../adapters/control-plane-client.ts';
import { jwks, newSigningKey, signAssignment, signCancellation, type SigningKey } from './sign.ts';

/** The events a runner posts: the protocol's own type (src/adapters/control-plane-client.ts). */
export type StepEvent = ControlPlaneEvent;

export interface ReferenceControlPlane {
  readonly url: string;
  readonly issuer: string;
  /** Signs a workflow for a runner and queues it for that runner's long-poll. */
  assign(runner: string, workflow: { id: string } & Record<string, unknown>): Promise<string>;
  /** Signs a cancellation of the run of an assignment (by its jti) and queues it for that runner's long-poll. */
  cancel(runner: string, assignmentJti: string): Promise<string>;
  /** Adds a new signing key (published in the JWKS); new assignments are signed with it. */
  rotate(): Promise<string>;
  readonly events: StepEvent[];
  readonly registered: Map<string, unknown>;
  readonly heartbeats: Map<string, number>;
  /** Fault injection for tests: answer 503, hang, or send garbage. */
  fault: 'none' | 'down' | 'error' | 'slow' | 'garbage' | 'events';
  close(): Promise<void>;
}

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
 * The reference control plane (development, tests, demo): serves its JWKS, signs assignments,
 * hands them out by long-poll, and records the runner's registration, heartbeats and step events.
 * Runners authenticate with `Authorization: Bearer <runner token>`.
 */
export async function startControlPlane(o: {
  token: string;
  port?: number;
  host?: string;
  pollMs?: number;
}): Promise<ReferenceControlPlane> {
  const keys: SigningKey[] = [await newSigningKey()];
  const queues = new Map<string, string[]>();
  const cancels = new Map<string, string[]>();
  const waiters = new Map<string, Set<() => void>>();
  const events: StepEvent[] = [];
  const seen = new Set<string>();
  const registered = new Map<string, unknown>();
  const heartbeats = new Map<string, number>();
  const state = { fault: 'none' as ReferenceControlPlane['fault'] };
  const wake = (runner: string) => waiters.get(runner)?.forEach((w) => w());

  const server: Server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://cp');
      if (state.fault === 'down') return void req.socket.destroy();
      if (url.pathname === '/.well-known/jwks.json') return json(res, 200, jwks(keys));
      if (req.headers.authorization !== `Bearer ${o.token}`)
        return json(res, 401, { code: 'UNAUTHORIZED', message: 'runner token required' });
      if (state.fault === 'error') return json(res, 503, { code: 'UNAVAILABLE' });
      if (state.fault === 'garbage') {
        res.writeHead(200, { 'content-type': 'application/json' });
        return res.end('{"assignments": [not json');
      }
      if (state.fault === 'slow') await new Promise((r) => setTimeout(r, 3000));
      const m = /^\/v1\/runners\/([a-z0-9-]{1,63})\/(register|heartbeat|assignments|events)$/.exec(url.pathname);
      if (m === null) return json(res, 404, { code: 'NOT_FOUND' });
      const [, runner = '', op] = m;
      if (op === 'register' && req.method === 'POST') {
        registered.set(runner, await body(req));
        return json(res, 200, { heartbeatSeconds: 10 });
      }
      if (op === 'heartbeat' && req.method === 'POST') {
        heartbeats.set(runner, (heartbeats.get(runner) ?? 0) + 1);
        await body(req);
        return json(res, 200, {});
      }
      if (op === 'assignments' && req.method === 'GET') {
        const waitMs = Math.min(30_000, Number(url.searchParams.get('wait') ?? '0') * 1000);
        const q = queues.get(runner) ?? [];
        if (q.length === 0 && (cancels.get(runner) ?? []).length === 0 && waitMs > 0) {
          await new Promise<void>((resolve) => {
            const set = waiters.get(runner) ?? new Set<() => void>();
            const done = () => {
              set.delete(done);
              clearTimeout(t);
              resolve();
            };
            const t = setTimeout(done, waitMs);
            set.add(done);
            waiters.set(runner, set);
            req.once('close', done);
          });
        }
        const batch = (queues.get(runner) ?? []).splice(0, 10);
        const cancellations = (cancels.get(runner) ?? []).splice(0, 10);
        return batch.length === 0 && cancellations.length === 0
          ? res.writeHead(204).end()
          : json(res, 200, { assignments: batch, ...(cancellations.length > 0 ? { cancellations } : {}) });
      }
      if (op === 'events' && req.method === 'POST') {
        if (state.fault === 'events') return json(res, 503, { code: 'UNAVAILABLE' });
        const b = (await body(req)) as { events?: StepEvent[] };
        const acked: string[] = [];
        for (const e of b.events ?? []) {
          if (!seen.has(e.id)) {
            seen.add(e.id);
            events.push(e);
          }
          acked.push(e.id);
        }
        return json(res, 200, { acked });
      }
      return json(res, 405, { code: 'METHOD_NOT_ALLOWED' });
    })().catch(() => {
      if (!res.headersSent) json(res, 400, { code: 'BAD_REQUEST' });
    });
  });
  await new Promise<void>((resolve) => server.listen(o.port ?? 0, o.host ?? '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const cp: ReferenceControlPlane = {
    url,
    issuer: url,
    events,
    registered,
    heartbeats,
    get fault() {
      return state.fault;
    },
    set fault(f) {
      state.fault = f;
    },
    assign: async (runner, workflow) => {
      const token = await signAssignment(keys.at(-1) as SigningKey, { issuer: url, audience: runner, workflow });
      queues.set(runner, [...(queues.get(runner) ?? []), token]);
      wake(runner);
      return token;
    },
    cancel: async (runner, assignmentJti) => {
      const token = await signCancellation(keys.at(-1) as SigningKey, {
        issuer: url,
        audience: runner,
        run: assignmentJti,
      });
      cancels.set(runner, [...(cancels.get(runner) ?? []), token]);
      wake(runner);
      return token;
    },
    rotate: async () => {
      const key = await newSigningKey();
      keys.push(key);
      return key.kid;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return cp;
}
