import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from '../../src/adapters/tools.ts';
import { childEnd } from './child-end.ts';

/** How a CLI process ended: its exit code, its stderr, and whether it was killed as hung. */
export interface CliEnd {
  readonly code: number | null;
  readonly stderr: string;
  readonly hung: boolean;
}

/**
 * Runs `node bin/kubiya-runner.js <args>` in `cwd` with only PATH in its environment, to its end.
 * After `hungAfterMs` it is reported hung: `onHung` runs (to release what it waits on, such as a
 * FIFO), then SIGKILL (a process in open(2) of a FIFO does not answer SIGTERM).
 */
export async function runCli(
  args: readonly string[],
  options: { cwd: string; hungAfterMs: number; onHung?: () => void },
): Promise<CliEnd> {
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'kubiya-runner.js'), ...args], {
    cwd: options.cwd,
    env: { PATH: process.env.PATH ?? '' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  // childEnd waits for 'close', not 'exit': 'exit' can come before the last of stderr has been
  // read, and a row then saw exit 2 with an empty stderr.
  const end = await childEnd(child, { killAfterMs: options.hungAfterMs, onKill: options.onHung });
  return { code: end.code, stderr, hung: end.killed };
}
