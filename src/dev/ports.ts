// Free loopback ports for the servers the dev tooling, the tests and the benches start.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/**
 * A free loopback TCP port for a server a child process will bind (etcd, the API server, kwok, a
 * bench's OPA): picked at random BELOW the kernel's ephemeral range (/proc/sys/net/ipv4/
 * ip_local_port_range, by default 32768–60999; above it when there is more room there, portRangeOf),
 * checked free by a bind, never handed out twice by this process.
 *
 * Why not bind to 0: the kernel then picks from the ephemeral range, the same range every outgoing
 * connection on the machine takes its source port from. Between this close and the child's bind, a
 * client connection (the API server dialling etcd, another test's watch) could take the port, and
 * etcd failed with "address already in use" (a cluster-tier flake, 30 November). Outgoing
 * connections never take a port outside that range, so only another server picking the same port
 * in the same instant can still collide. Throws when no free port is found in 200 tries.
 */
export async function freePort(): Promise<number> {
  const [low, high] = belowEphemeral();
  for (let i = 0; i < 200; i++) {
    const port = low + Math.floor(Math.random() * (high - low + 1));
    if (handedOut.has(port)) continue;
    if (await bindable(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no free loopback port in ${String(low)}-${String(high)} after 200 tries`);
}

const handedOut = new Set<number>();

/** The port range freePort picks from: portRangeOf the kernel's ephemeral range. */
function belowEphemeral(): readonly [number, number] {
  let text: string | undefined;
  try {
    text = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8');
  } catch {
    // not Linux, or no /proc: the kernel's default
  }
  return portRangeOf(text);
}

/** Ports outside the ephemeral range narrower than this are not used when a wider choice exists. */
const MIN_WIDTH = 256;

/**
 * The ports (inclusive) freePort picks from, given the text of /proc/sys/net/ipv4/ip_local_port_range
 * ("<first> <last>"; undefined or unreadable: Linux's default 32768 60999): 10000 (or 1024 more
 * below its start) up to just below the ephemeral range when that is at least 1024 ports above
 * 1023; else the wider of the gaps below it (from 1024) and above it (to 65535), when one is at
 * least MIN_WIDTH wide; else (the ephemeral range covers almost every port) 1024–65535, the only
 * choice left. Never a range inside the ephemeral one while a port outside it exists: a tuned
 * range such as "1024 65000" made the old fallback (49152–65535) lie inside it (red team 9).
 */
export function portRangeOf(text: string | undefined): readonly [number, number] {
  const [a, b] = (text ?? '').trim().split(/\s+/).map(Number);
  const valid = (n: number | undefined): n is number => n !== undefined && Number.isInteger(n) && n > 0 && n <= 65535;
  const [first, last] = valid(a) && valid(b) && a <= b ? [a, b] : [32768, 60999];
  const high = first - 1;
  const low = Math.min(10000, high - 1024);
  if (low >= 1024) return [low, high];
  const below: readonly [number, number] = [1024, first - 1];
  const above: readonly [number, number] = [Math.max(1024, last + 1), 65535];
  const width = ([lo, hi]: readonly [number, number]): number => hi - lo + 1;
  const wider = width(below) >= width(above) ? below : above;
  return width(wider) >= MIN_WIDTH ? wider : [1024, 65535];
}

/** True when a listener can bind 127.0.0.1:port right now (it is closed again at once). */
function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => server.close(() => resolve(true)));
  });
}
