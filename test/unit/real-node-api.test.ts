/**
 * How pods on the real node reach the API server (src/dev/node/api-access.ts, api-forwarder.ts).
 * The class of fault: a pod's client reaches nothing, or hangs. Its variants, each a test below:
 * the `kubernetes` EndpointSlice names an address the API refuses (loopback) or a port name the
 * Service does not have (kube-proxy then routes nothing); the forwarder loses bytes in one
 * direction, or the answer to a client that half-closed after its request; the forwarder keeps a client waiting when the API server is down (it must close it);
 * the forwarder started by path is not this module (no process would listen).
 */
import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { describe, test } from 'node:test';
import { API_ENDPOINT, kubernetesEndpointSlice, NODE_CONTROLLERS } from '../../src/dev/node/api-access.ts';
import { FORWARDER_FILE, forwardTcp } from '../../src/dev/node/api-forwarder.ts';
import { NODE } from '../../src/dev/node/configs.ts';

const port = (s: Server): number => (s.address() as { port: number }).port;

/** Sends `text` through a new connection to `to`, ends it, and resolves with all it received until close. */
async function exchange(to: number, text: string): Promise<string> {
  const c: Socket = connect(to, '127.0.0.1');
  const chunks: Buffer[] = [];
  c.on('data', (d: Buffer) => chunks.push(d));
  c.on('error', () => undefined);
  await once(c, 'connect');
  c.end(text);
  await once(c, 'close');
  return Buffer.concat(chunks).toString('utf8');
}

describe('the kubernetes EndpointSlice of the real node', () => {
  const slice = kubernetesEndpointSlice() as {
    metadata: { namespace: string; labels: Record<string, string> };
    endpoints: { addresses: string[] }[];
    ports: { name: string; port: number }[];
  };
  test('belongs to default/kubernetes, points at the forwarder on the node address (never loopback), port name https', () => {
    assert.equal(slice.metadata.namespace, 'default');
    assert.equal(slice.metadata.labels['kubernetes.io/service-name'], 'kubernetes');
    assert.notEqual(
      slice.metadata.labels['endpointslice.kubernetes.io/managed-by'],
      'endpointslice-controller.k8s.io',
      'not a slice the controller would take over',
    );
    assert.deepEqual(slice.endpoints[0]?.addresses, [NODE.ip]);
    assert.doesNotMatch(NODE.ip, /^127\./);
    // The Service the API server creates names its port "https": kube-proxy matches slice ports by name.
    assert.deepEqual(slice.ports, [{ name: 'https', port: API_ENDPOINT.port, protocol: 'TCP' }]);
  });
  test('the node runs the two controllers a service-account pod and a Service need', () => {
    assert.deepEqual([...NODE_CONTROLLERS].sort(), [
      'endpointslice-controller',
      'root-ca-certificate-publisher-controller',
    ]);
  });
});

describe('the API forwarder', () => {
  test('the file started as a process is the forwarder module', () => {
    assert.ok(existsSync(FORWARDER_FILE));
    assert.match(FORWARDER_FILE, /api-forwarder\.ts$/);
  });

  test('bytes go both ways, a request ended by the client still gets its whole answer', async () => {
    // Answers once the request ended (half-close), as a client that sends and then shuts down its side expects.
    const upstream = createServer({ allowHalfOpen: true }, (s) => {
      const got: Buffer[] = [];
      s.on('data', (d: Buffer) => got.push(d)).on('end', () => s.end(`echo:${Buffer.concat(got).toString('utf8')}`));
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const fwd = await forwardTcp({ host: '127.0.0.1', port: 0 }, { host: '127.0.0.1', port: port(upstream) });
    try {
      for (const text of ['GET /readyz', 'x'.repeat(256 * 1024)])
        assert.equal(await exchange(port(fwd), text), `echo:${text}`);
    } finally {
      fwd.close();
      upstream.close();
    }
  });

  test('an API server that is down: the client is closed at once, not left waiting', async () => {
    const gone = createServer();
    await new Promise<void>((r) => gone.listen(0, '127.0.0.1', r));
    const deadPort = port(gone);
    await new Promise<void>((r) => gone.close(() => r()));
    const fwd = await forwardTcp({ host: '127.0.0.1', port: 0 }, { host: '127.0.0.1', port: deadPort });
    try {
      const t0 = performance.now();
      assert.equal(await exchange(port(fwd), 'hello'), '');
      assert.ok(performance.now() - t0 < 5000);
    } finally {
      fwd.close();
    }
  });

  test('an address it cannot bind is an error, not a silent forwarder', async () => {
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    try {
      await assert.rejects(forwardTcp({ host: '127.0.0.1', port: port(taken) }, { host: '127.0.0.1', port: 1 }), {
        code: 'EADDRINUSE',
      });
    } finally {
      taken.close();
    }
  });
});
