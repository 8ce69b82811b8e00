import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from '../../src/adapters/tools.ts';

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
export function runCli(
  args: readonly string[],
  options: { cwd: string; hungAfterMs: number; onHung?: () => void },
): Promise<CliEnd> {
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'kubiya-runner.js'), ...args], {
    cwd: options.cwd,
    env: { PATH: process.env.PATH ?? '' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  let hung = false;
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => {
    hung = true;
    options.onHung?.();
    child.kill('SIGKILL');
  }, options.hungAfterMs);
  // 'close', not 'exit': 'exit' can come before the last of stderr has been read, and a row then
  // saw exit 2 with an empty stderr. A process that left its stderr to a child of its own still
  // ends the wait 2 s after its exit.
  return new Promise((resolve) => {
    let exited: ReturnType<typeof setTimeout> | undefined;
    const done = (code: number | null): void => {
      clearTimeout(timer);
      clearTimeout(exited);
      resolve({ code, stderr, hung });
    };
    child.once('exit', (code) => (exited = setTimeout(() => done(code), 2000)));
    child.once('close', (code) => done(code));
  });
}
