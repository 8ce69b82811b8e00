// Hostile network answers on a real loopback HTTP server (red team 17, finding 1): what a peer the
// runner reads from (a control plane, a proxy, a decision-log sink, a bundle service) can answer
// to make an unbounded reader hold gigabytes: a gzip bomb, a huge identity body, an endless slow one.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createGzip } from 'node:zlib';

/** The kinds of answer: the class's variants. */
export type Hostile = 'gzip-bomb' | 'huge-chunked' | 'huge-declared' | 'slow-endless';
export const HOSTILE: readonly Hostile[] = ['gzip-bomb', 'huge-chunked', 'huge-declared', 'slow-endless'];

/** How long a `slow-endless` answer waits between its 16-byte chunks, in ms. */
const SLOW_EVERY_MS = 100;
/** What `huge-*` answers send at most (the reader must stop long before), in bytes. */
const HUGE_BYTES = 1024 * 1024 * 1024;

/**
 * A gzip stream of `mib` MiB of the byte `fill` between `prefix` and `suffix`, made in 1 MiB steps
 * (the test never holds the expansion). 1536 MiB of zeros is the red team's sink bomb (1,565,468
 * bytes on the wire); `{"assignments":["` + 600 MiB of `a` + `"]}` its control-plane one.
 */
export async function gzipBomb(mib: number, fill = 0, prefix = '', suffix = ''): Promise<Buffer> {
  const z = createGzip({ level: 9 });
  const out: Buffer[] = [];
  z.on('data', (c: Buffer) => out.push(c));
  const ended = new Promise((r) => z.on('end', r));
  const step = Buffer.alloc(1024 * 1024, fill);
  z.write(prefix);
  for (let i = 0; i < mib; i++) if (!z.write(step)) await new Promise((r) => z.once('drain', r));
  z.write(suffix);
  z.end();
  await ended;
  return Buffer.concat(out);
}

/** What the server saw of one hostile answer: bytes written, and whether the client hung up first. */
export interface Answered {
  readonly kind: Hostile;
  written: number;
  closedEarly: boolean;
}

/** Writes `kind` on `res`, recording it in `log`. JSON content type: what the readers ask for. */
export function answerHostile(kind: Hostile, bomb: Buffer, res: ServerResponse, log: Answered[]): void {
  const a: Answered = { kind, written: 0, closedEarly: false };
  log.push(a);
  res.on('close', () => {
    if (!res.writableFinished) a.closedEarly = true;
  });
  if (kind === 'gzip-bomb') {
    res.writeHead(200, {
      'content-type': 'application/json',
      'content-encoding': 'gzip',
      'content-length': bomb.length,
    });
    a.written = bomb.length;
    res.end(bomb);
    return;
  }
  if (kind === 'slow-endless') {
    res.writeHead(200, { 'content-type': 'application/json' });
    const t = setInterval(() => {
      if (res.destroyed) return clearInterval(t);
      a.written += 16;
      res.write('[[[[[[[[[[[[[[[[');
    }, SLOW_EVERY_MS);
    res.on('close', () => clearInterval(t));
    return;
  }
  res.writeHead(200, {
    'content-type': 'application/json',
    ...(kind === 'huge-declared' ? { 'content-length': HUGE_BYTES } : {}),
  });
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  const pump = (): void => {
    while (!res.destroyed && a.written < HUGE_BYTES) {
      a.written += chunk.length;
      if (!res.write(chunk)) return void res.once('drain', pump);
    }
    if (!res.destroyed) res.end();
  };
  pump();
}

/** A loopback server; `handle` answers every request after its body (kept up to 1 MiB) has arrived. */
export async function loopback(
  handle: (req: IncomingMessage, res: ServerResponse, body: string) => void,
): Promise<{ url: string; close: () => Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= 1024 * 1024) chunks.push(c);
    });
    req.on('end', () => handle(req, res, Buffer.concat(chunks).toString('utf8')));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

/**
 * Runs `work` while sampling RSS every 20 ms; the peak growth over the RSS just before, in MiB.
 * Bytes a fetch decodes live off the V8 heap, so RSS (not heapUsed) is what shows them.
 */
export async function rssGrowth<T>(work: () => Promise<T>): Promise<{ value: T; growthMiB: number }> {
  const base = process.memoryUsage().rss;
  let peak = base;
  const t = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 20);
  try {
    const value = await work();
    peak = Math.max(peak, process.memoryUsage().rss);
    return { value, growthMiB: (peak - base) / 2 ** 20 };
  } finally {
    clearInterval(t);
  }
}
