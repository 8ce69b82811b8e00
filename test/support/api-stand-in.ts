/**
 * A loopback stand-in for the Kubernetes API server, for tests that run `serve` without a control
 * plane: every list answers with no items, every watch is held open and quiet, anything else is a
 * 404 Status. `serve` starts only once its first lists of runs and pods are complete (red team 7,
 * finding 1), so an unreachable API server would keep it from ever starting.
 */
import { createServer, type Server } from 'node:http';
import { KubeConfig } from '@kubernetes/client-node';

/** The stand-in, listening on 127.0.0.1, and a kubeconfig (YAML text) that points at it. */
export interface ApiStandIn {
  readonly server: Server;
  readonly kubeconfig: string;
  /** Closes the server and every connection (watches included). */
  close(): void;
}

/** Starts the stand-in on an ephemeral loopback port. */
export async function apiStandIn(): Promise<ApiStandIn> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    res.setHeader('content-type', 'application/json');
    if (req.method !== 'GET') {
      res.writeHead(404);
      res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 404 }));
    } else if (url.searchParams.get('watch') === 'true') res.writeHead(200);
    else res.end(JSON.stringify({ apiVersion: 'v1', kind: 'List', metadata: { resourceVersion: '1' }, items: [] }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const kubeconfig =
    'apiVersion: v1\nkind: Config\n' +
    `clusters: [{name: c, cluster: {server: "http://127.0.0.1:${port}", insecure-skip-tls-verify: true}}]\n` +
    'users: [{name: u, user: {token: t}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n';
  return {
    server,
    kubeconfig,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

/**
 * A KubeConfig for an API server twin on 127.0.0.1:`port` over plain HTTP, with no credentials:
 * `kc` (a subclass such as PooledKubeConfig) loaded with it, or a new KubeConfig.
 */
export function loopbackKubeConfig<K extends KubeConfig = KubeConfig>(port: number, kc?: K): K {
  const loaded = kc ?? (new KubeConfig() as K);
  loaded.loadFromOptions({
    clusters: [{ name: 'c', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: 'u' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return loaded;
}
