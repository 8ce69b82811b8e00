/**
 * Raw loopback connections for the tests of the connection bound (server.maxConnections): one
 * held open in a chosen state, and a GET on a connection of its own.
 */
import { get } from 'node:http';
import { connect, type Socket } from 'node:net';

/** A client connection and what happened to it. */
export interface Held {
  readonly socket: Socket;
  /** Every byte the server sent (latin1). */
  received: string;
  /** When it closed, in ms after it was opened; undefined while open. */
  closedAfterMs?: number;
}

/**
 * Opens a TCP connection to 127.0.0.1:`port` and writes `bytes` once connected (nothing for '').
 * Rejects only when the connection cannot be made; a write racing the server's close (EPIPE,
 * ECONNRESET) is swallowed: the close is what the caller looks at.
 */
export async function openConnection(port: number, bytes: string): Promise<Held> {
  const t0 = Date.now();
  const socket = connect(port, '127.0.0.1');
  const held: Held = { socket, received: '' };
  socket.on('data', (d: Buffer) => (held.received += d.toString('latin1')));
  socket.on('error', () => undefined);
  socket.on('close', () => (held.closedAfterMs = Date.now() - t0));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  if (bytes !== '') socket.write(bytes);
  return held;
}

/**
 * GET `path` from 127.0.0.1:`port` on a connection of its own (no agent, `Connection: close`, so
 * no pooled connection is left open): the status and body, or the error's message (no answer
 * within `timeoutMs`, a refused or reset connection).
 */
export function getAlone(
  port: number,
  path: string,
  timeoutMs = 2000,
): Promise<{ status: number; body: string } | string> {
  return new Promise((resolve) => {
    const req = get({ host: '127.0.0.1', port, path, agent: false, headers: { connection: 'close' } });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('response', (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', (e) => resolve(e.message));
  });
}
