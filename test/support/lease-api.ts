/**
 * A loopback twin of the API server's one Lease (coordination.k8s.io/v1), for LeaseElector tests:
 * GET answers it (404 before it exists), POST creates it, PUT replaces it when the body's
 * resourceVersion is the stored one (409 otherwise, as the API server's optimistic concurrency
 * does); each write gets a new resourceVersion. `silent` holds every request unanswered (a hung
 * API connection). The test plays other holders by `write`.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { KubeConfig } from '@kubernetes/client-node';
import { loopbackKubeConfig } from './api-stand-in.ts';

/** The Lease as stored: `spec` as JSON carries it (times as RFC 3339 strings). */
export interface StoredLease {
  readonly metadata: { readonly name: string; readonly namespace: string; readonly resourceVersion: string };
  readonly spec: Record<string, unknown>;
}

export interface LeaseApi {
  readonly kc: KubeConfig;
  /** The Lease now, or undefined before its create. */
  lease(): StoredLease | undefined;
  /** Stores `spec` as another holder's write would (a new resourceVersion). */
  write(spec: Record<string, unknown>): void;
  /** While true, requests are held unanswered. */
  silent: boolean;
  /** Requests answered so far, by method. */
  readonly answered: Record<string, number>;
  close(): void;
}

/** Starts the twin on an ephemeral loopback port; the Lease is `name` in `namespace`. */
export async function leaseApi(name = 'l', namespace = 'ns'): Promise<LeaseApi> {
  let stored: StoredLease | undefined;
  let version = 0;
  const held: ServerResponse[] = [];
  const answered: Record<string, number> = {};
  const store = (spec: Record<string, unknown>): StoredLease =>
    (stored = { metadata: { name, namespace, resourceVersion: String(++version) }, spec });
  const api: Omit<LeaseApi, 'kc'> & { kc?: KubeConfig } = {
    lease: () => stored,
    write: (spec) => void store(spec),
    silent: false,
    answered,
    close: () => {
      for (const r of held) r.destroy();
      server.closeAllConnections();
      server.close();
    },
  };
  const answer = (res: ServerResponse, code: number, body: unknown): void => {
    res.statusCode = code;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(body));
  };
  const status = (code: number) => ({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code });
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      if (api.silent) {
        held.push(res);
        return;
      }
      const method = req.method ?? 'GET';
      answered[method] = (answered[method] ?? 0) + 1;
      const lease = (): Record<string, unknown> => ({
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        ...stored,
      });
      if (method === 'GET') return stored === undefined ? answer(res, 404, status(404)) : answer(res, 200, lease());
      const sent = JSON.parse(body) as { metadata?: { resourceVersion?: string }; spec?: Record<string, unknown> };
      if (method === 'POST' && stored !== undefined) return answer(res, 409, status(409));
      if (method === 'PUT' && sent.metadata?.resourceVersion !== stored?.metadata.resourceVersion)
        return answer(res, 409, status(409));
      store(sent.spec ?? {});
      answer(res, method === 'POST' ? 201 : 200, lease());
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return Object.assign(api, { kc: loopbackKubeConfig((server.address() as AddressInfo).port) });
}
