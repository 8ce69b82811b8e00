/**
 * The second thread of `audit verify` (audit-files.ts, checkAuditDir): checks a run of lines of the
 * reader's shared buffer on bytes (chain-run.ts checkRun) while the main thread checks the lines
 * before it. Messages in: `{ buffer: SharedArrayBuffer, from, to }`; out: the TrustedRun or null.
 * `workerData.wanted`: the checkpoint seqs. The run's bytes are its own while it runs: the main
 * thread touches only the lines before `from` until the answer comes.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { checkRun } from '../audit/chain-run.ts';

const wanted = (workerData as { wanted: number[] }).wanted;
parentPort?.on('message', (m: { buffer: SharedArrayBuffer; from: number; to: number }) => {
  parentPort?.postMessage(checkRun(Buffer.from(m.buffer), m.from, m.to, wanted) ?? null);
});
