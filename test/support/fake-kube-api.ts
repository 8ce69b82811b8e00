import { createServer, type ServerResponse } from 'node:http';
import type { V1Pod } from '@kubernetes/client-node';

interface Event {
  readonly rv: number;
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED';
  readonly pod: V1Pod;
}

export interface FakeKubeApi {
  readonly port: number;
  /** Creates or replaces a pod; `silently` keeps the change out of every watch (a lost event). */
  put(pod: V1Pod, options?: { silently?: boolean }): void;
  /** Deletes a pod; `silently` keeps the change out of every watch. */
  remove(name: string, options?: { silently?: boolean }): void;
  /** Holds the answer of every later GET /version and pod read this long (ms); 0 answers at once. */
  delay(ms: number): void;
  /** GET /version and pod reads received so far. */
  reads(): number;
  /** Holds the response (headers included) of every later watch request this long (ms); 0 answers at once. */
  holdWatches(ms: number): void;
  /** Watch responses open now (answered and not yet ended or closed by either side). */
  liveWatches(): number;
  /** The query of every watch request so far, and how many list requests. */
  readonly watches: URLSearchParams[];
  lists(): number;
  close(): Promise<void>;
}

/**
 * A tiny plain-HTTP stand-in for the API server's pod collection in one namespace: list (with a
 * resourceVersion), watch from a resourceVersion (replaying later events, then streaming), the
 * watch's `timeoutSeconds` honoured, a BOOKMARK 200 ms before it ends when asked for, and
 * GET /version. Enough to test the runner's informer plumbing without a control plane.
 */
export async function startFakeKubeApi(namespace: string): Promise<FakeKubeApi> {
  let rv = 1;
  const pods = new Map<string, V1Pod>();
  const history: Event[] = [];
  const live = new Set<{ res: ServerResponse; from: number }>();
  const watches: URLSearchParams[] = [];
  let lists = 0;
  let delayMs = 0;
  let holdMs = 0;
  let reads = 0;
  const send = (res: ServerResponse, e: Event): void => {
    res.write(`${JSON.stringify({ type: e.type, object: e.pod })}\n`);
  };
  const record = (type: Event['type'], pod: V1Pod, silently: boolean): void => {
    const e = { rv, type, pod };
    if (silently) return;
    history.push(e);
    for (const w of live) if (e.rv > w.from) send(w.res, e);
  };
  const collection = `/api/v1/namespaces/${namespace}/pods`;
  const later = (fn: () => void): void => {
    if (delayMs === 0) fn();
    else setTimeout(fn, delayMs);
  };
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/version') {
      reads++;
      later(() => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ major: '1', minor: '35', gitVersion: 'v1.35.0-fake' }));
      });
      return;
    }
    if (url.pathname.startsWith(`${collection}/`) && req.method === 'GET') {
      reads++;
      const pod = pods.get(url.pathname.slice(collection.length + 1));
      later(() => {
        res.statusCode = pod === undefined ? 404 : 200;
        res.setHeader('content-type', 'application/json');
        res.end(
          JSON.stringify(pod ?? { kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 404, reason: 'NotFound' }),
        );
      });
      return;
    }
    if (url.pathname !== collection) {
      res.statusCode = 404;
      res.end();
      return;
    }
    res.setHeader('content-type', 'application/json');
    if (url.searchParams.get('watch') !== 'true') {
      lists++;
      res.end(
        JSON.stringify({
          kind: 'PodList',
          apiVersion: 'v1',
          metadata: { resourceVersion: String(rv) },
          items: [...pods.values()],
        }),
      );
      return;
    }
    watches.push(url.searchParams);
    const answer = (): void => {
      if (req.destroyed) return;
      const from = Number(url.searchParams.get('resourceVersion') ?? '0');
      res.writeHead(200, { 'transfer-encoding': 'chunked' });
      res.flushHeaders();
      const w = { res, from };
      live.add(w);
      for (const e of history) if (e.rv > from) send(res, e);
      const seconds = Number(url.searchParams.get('timeoutSeconds') ?? '0');
      if (seconds > 0) {
        const bookmark =
          url.searchParams.get('allowWatchBookmarks') === 'true'
            ? setTimeout(
                () =>
                  res.write(
                    `${JSON.stringify({ type: 'BOOKMARK', object: { kind: 'Pod', apiVersion: 'v1', metadata: { resourceVersion: String(rv) } } })}\n`,
                  ),
                seconds * 1000 - 200,
              )
            : undefined;
        const end = setTimeout(() => res.end(), seconds * 1000);
        res.on('close', () => {
          clearTimeout(bookmark);
          clearTimeout(end);
        });
      }
      res.on('close', () => live.delete(w));
    };
    if (holdMs === 0) answer();
    else setTimeout(answer, holdMs);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return {
    port: address.port,
    watches,
    lists: () => lists,
    delay: (ms) => (delayMs = ms),
    holdWatches: (ms) => (holdMs = ms),
    liveWatches: () => live.size,
    reads: () => reads,
    put: (pod, options) => {
      rv++;
      const name = pod.metadata?.name ?? '';
      const type = pods.has(name) ? 'MODIFIED' : 'ADDED';
      const stored: V1Pod = {
        apiVersion: 'v1',
        kind: 'Pod',
        ...pod,
        metadata: { ...pod.metadata, namespace, resourceVersion: String(rv) },
      };
      pods.set(name, stored);
      record(type, stored, options?.silently === true);
    },
    remove: (name, options) => {
      const pod = pods.get(name);
      if (pod === undefined) return;
      rv++;
      pods.delete(name);
      record(
        'DELETED',
        { ...pod, metadata: { ...pod.metadata, resourceVersion: String(rv) } },
        options?.silently === true,
      );
    },
    close: async () => {
      for (const w of live) w.res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
