import { leadsToStdout } from '../adapters/output-target.ts';
import type { Io } from './io.ts';

/**
 * The io a command that writes output files prints its own lines through: when one of `outputs`
 * is its standard output (`--out /dev/stdout`, `--junit /dev/fd/1`), those lines go to stderr, as
 * `tar -cf -` and `curl -o -` do, so that stdout holds the output alone (red team 20, finding 7:
 * the `built …` line ended the bundle, the test lines came before the JUnit XML).
 */
export async function statusLines(io: Io, outputs: readonly (string | undefined)[]): Promise<Io> {
  for (const o of outputs) if (o !== undefined && (await leadsToStdout(o))) return { ...io, out: io.err };
  return io;
}
