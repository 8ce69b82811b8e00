import type { PeersResult, RowResult } from '../../bench/peers/harness.ts';

/**
 * A PeersResult as the report functions read it: `rows` as given, the options naming them
 * (`steps` per round, one round, one submitter, 1 s windows), load 1 before and after, no idle CPU.
 */
export function peersResult(rows: readonly RowResult[], steps = 1): PeersResult {
  return {
    options: {
      rows: rows.map((r) => r.slug),
      steps,
      concurrency: 1,
      rounds: 1,
      parityWindowMs: 1,
      idleSeconds: 1,
      maxRoundSeconds: 1,
    },
    loadBefore: [1, 1, 1],
    loadAfter: [1, 1, 1],
    idleCpuPerSecond: {},
    rows: [...rows],
  };
}
