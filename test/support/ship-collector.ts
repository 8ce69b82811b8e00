import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';

/** A decision-log collector on loopback (OPA's upload format) that accepts every upload. */
export interface Collector {
  /** The upload URL of the audit directory `dir` (its seqs are kept apart from other directories'). */
  urlOf(dir: string): string;
  /** Seqs accepted from `dir`'s shipper, in the order they came. */
  seqsOf(dir: string): number[];
  /** Forgets what `dir`'s shipper sent. */
  forget(dir: string): void;
  close(): Promise<void>;
}

/** Starts a Collector on 127.0.0.1, port 0. */
export async function startCollector(): Promise<Collector> {
  const received = new Map<string, number[]>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const key = new URL(req.url ?? '/', 'http://x').searchParams.get('d') ?? '';
      const events = JSON.parse(gunzipSync(Buffer.concat(chunks)).toString()) as { seq: number }[];
      received.set(key, [...(received.get(key) ?? []), ...events.map((e) => e.seq)]);
      res.writeHead(200).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/logs`;
  return {
    urlOf: (dir) => `${url}?d=${encodeURIComponent(dir)}`,
    seqsOf: (dir) => received.get(dir) ?? [],
    forget: (dir) => void received.delete(dir),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
