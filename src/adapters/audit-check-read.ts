import { isUtf8 } from 'node:buffer';
import { openAuditFile } from './audit-open.ts';
import { MAX_RECORD_BYTES, TOO_LONG } from '../audit/limits.ts';
import { Worker } from 'node:worker_threads';
import type { ChainChecker } from '../audit/chain-check.ts';
import type { TrustedRun } from '../audit/chain-report.ts';

/**
 * The byte reader of `audit verify` (checkAuditDir): each segment is read in chunks into one
 * buffer and its lines are fed to the checker as bytes (ChainChecker.lineBytes), with no string,
 * parse or record per trusted line. Memory is bounded whatever the log's size: the buffer holds one
 * chunk plus the partial line carried over (it grows only to hold a line longer than itself), and
 * the checker keeps the hashes of the checkpoint seqs only. A line longer than MAX_RECORD_BYTES is
 * reported (TOO_LONG) once that many of its bytes are held, and not read further.
 *
 * On two cores (`RunWorker`), each chunk's whole lines are split in two: a worker thread checks the
 * second half on bytes (chain-run.ts) while this thread checks the first; the worker's run is
 * adopted only if it starts where this thread's chain ends, and otherwise (or if the worker gave
 * up) this thread checks those lines itself. So the verdict and the problem reported are always
 * those of the sequential check.
 */

export const NOT_UTF8 =
  'the line is not valid UTF-8: its bytes are not what the appender wrote (invalid bytes decode to U+FFFD, so its text could still hash right)';
export const EMPTY_LINE = 'an empty line: the appender never writes one (a line was removed or inserted)';
export const NO_NEWLINE =
  'the last line has no newline: a torn write (the runner repairs it when it next opens the log) or a cut';

/** Read size of the verifier (a line longer than this grows the buffer). */
export const VERIFY_CHUNK = 4 * 1024 * 1024;

/** A worker thread that checks runs of lines of a shared buffer (audit-check-worker.ts). */
export class RunWorker {
  private readonly worker: Worker;
  private waiting: ((run: TrustedRun | null) => void) | undefined;
  private failure: Error | undefined;
  /** Lines whose runs were adopted (checked on the worker only): how much of the work it took. */
  adopted = 0;
  /** Chunks still to be read on one thread before the worker is tried again (adaptive only). */
  rest = 0;
  readonly adaptive: boolean;

  /**
   * `wanted`: the checkpoint seqs whose hashes the runs keep. `adaptive`: after a chunk on which
   * the main thread waited for the worker longer than it took for its own half (no core to spare:
   * the two halves ran one after the other, plus the hand-overs), the next REST chunks are read on
   * one thread; then the worker is tried again.
   */
  constructor(wanted: readonly number[], adaptive = false) {
    this.adaptive = adaptive;
    this.worker = new Worker(new URL('./audit-check-worker.ts', import.meta.url), { workerData: { wanted } });
    this.worker.on('message', (run: TrustedRun | null) => this.settle(run));
    // A worker that fails or exits answers null from then on: the lines are checked on this thread.
    this.worker.on('error', (e: Error) => ((this.failure = e), this.settle(null)));
    this.worker.on('exit', () => ((this.failure ??= new Error('exited')), this.settle(null)));
  }

  private settle(run: TrustedRun | null): void {
    const w = this.waiting;
    this.waiting = undefined;
    w?.(run);
  }

  /** The run of whole lines `[from, to)` of `buffer`, checked on the worker; null when it gave up. One at a time. */
  run(buffer: SharedArrayBuffer, from: number, to: number): Promise<TrustedRun | null> {
    if (this.failure !== undefined) return Promise.resolve(null);
    return new Promise((resolve) => {
      this.waiting = resolve;
      this.worker.postMessage({ buffer, from, to });
    });
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}

/** Chunks read on one thread after the worker did not pay (RunWorker.adaptive). */
const REST = 8;

/** How a segment is read: the chunk size, and the worker for the second half of each chunk (none: one thread). */
export interface ReadOptions {
  readonly chunk: number;
  readonly worker?: RunWorker | undefined;
  /** Read only the segment's first `end` bytes (the shipper's proof of its cursor: audit-ship-cursor.ts); default all. */
  readonly end?: number | undefined;
}

/** A buffer of `size` bytes on shared memory (the worker reads it in place). */
const sharedBuffer = (size: number): Buffer => Buffer.from(new SharedArrayBuffer(size));

/**
 * Feeds the lines of `view[from, to)` (`to` just past a newline, or the view's end) to the checker:
 * one longer than MAX_RECORD_BYTES, invalid UTF-8 (unless `allUtf8`), an empty line, or the line
 * itself. `n`: lines before `from`.
 * Returns the new line count.
 */
function feedLines(
  checker: ChainChecker,
  view: Buffer,
  from: number,
  to: number,
  at: { name: string; n: number; allUtf8: boolean },
): number {
  let n = at.n;
  let start = from;
  for (let nl = view.indexOf(0x0a, start); nl >= 0 && nl < to && !checker.failed; nl = view.indexOf(0x0a, start)) {
    n++;
    if (nl - start > MAX_RECORD_BYTES) checker.stray(TOO_LONG, `${at.name}:${n}`);
    else if (!at.allUtf8 && !isUtf8(view.subarray(start, nl))) checker.stray(NOT_UTF8, `${at.name}:${n}`);
    else if (nl === start) checker.stray(EMPTY_LINE, `${at.name}:${n}`);
    else checker.lineBytes(view, start, nl, at.name, n);
    start = nl + 1;
  }
  return n;
}

/**
 * The whole lines of one chunk, `view[0, whole)`: split between the worker and this thread when
 * there is a worker and the chunk is valid UTF-8 with more than one line; else all on this thread.
 */
async function feedChunk(
  checker: ChainChecker,
  view: Buffer,
  whole: number,
  at: { name: string; n: number; allUtf8: boolean },
  worker: RunWorker | undefined,
): Promise<number> {
  const resting = worker !== undefined && worker.rest > 0 && worker.rest-- > 0;
  const mid = worker !== undefined && !resting && at.allUtf8 ? view.indexOf(0x0a, whole >> 1) + 1 : 0;
  if (worker === undefined || mid <= 0 || mid >= whole) return feedLines(checker, view, 0, whole, at);
  const t0 = performance.now();
  const pending = worker.run(view.buffer as SharedArrayBuffer, mid, whole);
  const n = feedLines(checker, view, 0, mid, at);
  const t1 = performance.now();
  const run = await pending;
  if (worker.adaptive && performance.now() - t1 > t1 - t0) worker.rest = REST;
  if (checker.failed) return n;
  // A run is returned only when every line of it was taken, so it is `taken` lines long.
  if (run !== null && checker.adopt(run, at.name, n + run.taken)) {
    worker.adopted += run.taken;
    return n + run.taken;
  }
  return feedLines(checker, view, mid, whole, { ...at, n });
}

/**
 * Feeds every line of one segment to the checker (see the module comment). The strays: invalid
 * UTF-8, an empty line, a last line without its newline. `counted(k)`: k more lines were read.
 */
export async function checkSegmentBytes(
  checker: ChainChecker,
  file: string,
  counted: (k: number) => void,
  options: ReadOptions = { chunk: VERIFY_CHUNK },
): Promise<void> {
  const name = file.split('/').pop() ?? file;
  const fh = await openAuditFile(file);
  try {
    let buf = sharedBuffer(options.chunk);
    let have = 0;
    let n = 0;
    let left = options.end ?? Infinity;
    for (let eof = false; !eof && !checker.failed;) {
      if (have === buf.length) {
        const grown = sharedBuffer(buf.length * 2);
        buf.copy(grown, 0, 0, have);
        buf = grown;
      }
      const { bytesRead } = await fh.read(buf, have, Math.min(buf.length - have, left), null);
      eof = bytesRead === 0;
      have += bytesRead;
      left -= bytesRead;
      const view = buf.subarray(0, have);
      const whole = view.lastIndexOf(0x0a) + 1;
      // No newline in more than a record's bytes: a line the appender never writes. Reported, and
      // not read further (the buffer would grow to hold all of it; the checker has failed anyway).
      if (whole === 0 && have > MAX_RECORD_BYTES) {
        checker.stray(TOO_LONG, `${name}:${n + 1}`);
        break;
      }
      const before = n;
      n = await feedChunk(checker, view, whole, { name, n, allUtf8: isUtf8(view.subarray(0, whole)) }, options.worker);
      counted(n - before);
      if (eof && whole < have && !checker.failed) {
        const tail = view.subarray(whole, have);
        checker.stray(isUtf8(tail) ? NO_NEWLINE : NOT_UTF8, `${name}:${n + 1}`);
      }
      buf.copy(buf, 0, whole, have);
      have -= whole;
    }
  } finally {
    await fh.close();
  }
}
