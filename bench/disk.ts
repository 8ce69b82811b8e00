/**
 * The disk under the audit log: latency of one record-sized write + fdatasync, measured next to
 * the decision path (each decision waits for four of them, in sequence, through group commit).
 */
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { quantile } from './stats.ts';

export interface DiskProbe {
  readonly syncs: number;
  readonly p50Micros: number;
  readonly p99Micros: number;
}

export async function diskProbe(dir: string, syncs: number): Promise<DiskProbe> {
  const file = join(dir, 'fdatasync-probe');
  const fh = await open(file, 'a');
  const line = Buffer.alloc(1300, 0x61);
  const times = new Float64Array(syncs);
  try {
    const stopAt = performance.now() + 20_000;
    for (let i = 0; i < syncs && performance.now() < stopAt; i++) {
      const t0 = performance.now();
      await fh.write(line);
      await fh.datasync();
      times[i] = (performance.now() - t0) * 1000;
    }
  } finally {
    await fh.close();
    await rm(file, { force: true });
  }
  return { syncs, p50Micros: quantile(times, 0.5), p99Micros: quantile(times, 0.99) };
}
