import { connect, createServer, type Socket } from 'node:net';

/** One proxied connection: the accepted socket and the one to the target. */
interface Pair {
  readonly client: Socket;
  readonly upstream: Socket;
  frozen: boolean;
}

export interface FreezeProxy {
  /** The loopback port the proxy listens on. */
  readonly port: number;
  /**
   * Stops forwarding on every connection open now, both ways, WITHOUT closing anything: no FIN, no
   * RST, no byte. Bytes already read are dropped, unread ones stay in the kernel's buffers. Connections
   * accepted later are forwarded normally (a middlebox that lost its state for old flows).
   * Returns how many connections were frozen.
   */
  freeze(): number;
  /** Connections accepted so far (frozen or not). */
  accepted(): number;
  /** Connections accepted since the last freeze() and still open. */
  live(): number;
  /** Destroys every connection and stops listening. */
  close(): Promise<void>;
}

/**
 * A TCP proxy on 127.0.0.1 (port 0) in front of `target`, for tests of what the runner does when its
 * API server connection goes silent. TLS passes through untouched, so a kubeconfig pointing at the
 * proxy's port keeps working while the server's certificate names 127.0.0.1.
 */
export async function startFreezeProxy(target: { readonly host: string; readonly port: number }): Promise<FreezeProxy> {
  const pairs = new Set<Pair>();
  let accepted = 0;
  const forward = (from: Socket, to: Socket, pair: Pair): void => {
    from.on('data', (chunk: Buffer) => {
      if (pair.frozen) return;
      if (!to.write(chunk)) {
        from.pause();
        to.once('drain', () => {
          if (!pair.frozen) from.resume();
        });
      }
    });
    // A close is forwarded only while the flow is alive: a frozen middlebox forwards nothing.
    from.on('close', () => {
      if (!pair.frozen) to.destroy();
      if (from.destroyed && to.destroyed) pairs.delete(pair);
    });
    from.on('error', () => undefined);
  };
  const server = createServer((client) => {
    accepted++;
    const upstream = connect({ host: target.host, port: target.port });
    const pair: Pair = { client, upstream, frozen: false };
    pairs.add(pair);
    forward(client, upstream, pair);
    forward(upstream, client, pair);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('proxy has no TCP address');
  return {
    port: address.port,
    freeze: () => {
      let n = 0;
      for (const pair of pairs) {
        if (pair.frozen || pair.client.destroyed) continue;
        pair.frozen = true;
        pair.client.pause();
        pair.upstream.pause();
        n++;
      }
      return n;
    },
    accepted: () => accepted,
    live: () => [...pairs].filter((p) => !p.frozen && !p.client.destroyed).length,
    close: async () => {
      for (const { client, upstream } of pairs) {
        client.destroy();
        upstream.destroy();
      }
      pairs.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
