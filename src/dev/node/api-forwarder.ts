// A TCP forwarder from the real node's address to the API server on loopback, run as its own process
// (it must outlive `dev cluster up --real-node`): `node api-forwarder.ts <listen host> <port> <target host> <port>`.
// TCP only, no TLS termination: clients see the API server's own certificate (docs/real-node.md).
import { connect, createServer, type Server, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';

/** This module's file, to start it as a process. */
export const FORWARDER_FILE = fileURLToPath(import.meta.url);

/** One address and port. */
export interface HostPort {
  readonly host: string;
  readonly port: number;
}

function pipeBoth(client: Socket, upstream: Socket): void {
  const close = (): void => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', close).on('close', close);
  upstream.on('error', close).on('close', close);
  client.pipe(upstream);
  upstream.pipe(client);
}

/**
 * Listens on `listen` and joins every connection to a new one to `target`: bytes both ways, an end
 * (FIN) passed on in each direction, either side closing or failing closes both. Resolves with the listening server; rejects if it cannot bind.
 */
export function forwardTcp(listen: HostPort, target: HostPort): Promise<Server> {
  // Half-open on both sides: a client that ends its request still gets the whole answer.
  const server = createServer({ allowHalfOpen: true }, (client) =>
    pipeBoth(client, connect({ port: target.port, host: target.host, allowHalfOpen: true })),
  );
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => resolve(server));
  });
}

if (import.meta.main) {
  const [listenHost, listenPort, targetHost, targetPort] = process.argv.slice(2);
  const port = (s: string | undefined): number => Number.parseInt(s ?? '', 10);
  if (listenHost === undefined || targetHost === undefined || !(port(listenPort) > 0 && port(targetPort) > 0)) {
    process.stderr.write(
      'usage: api-forwarder.ts <listen host> <listen port> <target host> <target port> [node directory]\n',
    );
    process.exit(2);
  }
  process.once('SIGTERM', () => process.exit(0));
  const listen = { host: listenHost, port: port(listenPort) };
  const target = { host: targetHost, port: port(targetPort) };
  await forwardTcp(listen, target).then(
    () => process.stdout.write(`forwarding ${listenHost}:${listen.port} -> ${targetHost}:${target.port}\n`),
    (e: unknown) => {
      process.stderr.write(`api-forwarder: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(1);
    },
  );
}
