import type { ChildProcess } from 'node:child_process';

/** How a child process ended: its exit code or signal, and whether `childEnd` killed it as hung. */
export interface ChildEnd {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** True when it outlived `killAfterMs` and was sent SIGKILL. */
  readonly killed: boolean;
}

export interface ChildEndOptions {
  /** After this many ms the child is killed (SIGKILL) and reported `killed`; none by default. */
  readonly killAfterMs?: number;
  /** Runs just before that SIGKILL (to release what the child waits on, such as a FIFO's writer). */
  readonly onKill?: () => void;
  /**
   * How long after 'exit' the wait ends without 'close', in ms (default 2000): a grandchild that
   * inherited a pipe keeps it open after the child's exit, and the test must not wait for it.
   */
  readonly graceMs?: number;
}

/**
 * Resolves once `child` has ended AND its stdout and stderr have been read to their end: on
 * 'close', not 'exit'. Node emits 'exit' when the process ends, which can come before the last
 * chunk of its stdout or stderr has been read from the pipe — a test that reads its output on
 * 'exit' then sees a truncated or empty stderr (seen: exit 2 with an empty stderr, d464fad). Call
 * it right after `spawn`, and read the output once it resolves. Never rejects.
 */
export function childEnd(child: ChildProcess, options: ChildEndOptions = {}): Promise<ChildEnd> {
  const ended = child.exitCode !== null || child.signalCode !== null;
  if (ended && child.stdio.every((s) => s?.closed !== false))
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode, killed: false });
  return new Promise((resolve) => {
    let killed = false;
    let grace: ReturnType<typeof setTimeout> | undefined;
    const killer =
      options.killAfterMs === undefined
        ? undefined
        : setTimeout(() => {
            killed = true;
            options.onKill?.();
            child.kill('SIGKILL');
          }, options.killAfterMs);
    const done = (code: number | null, signal: NodeJS.Signals | null): void => {
      clearTimeout(killer);
      clearTimeout(grace);
      child.removeListener('close', done);
      resolve({ code, signal, killed });
    };
    child.once('exit', (code, signal) => (grace = setTimeout(() => done(code, signal), options.graceMs ?? 2000)));
    child.once('close', done);
  });
}
