// What this process must undo however it ends: the attached processes it started (a test file's or
// the demo's control plane) and the temp directories they write. Node runs no 'exit' handler when the
// process dies of a signal it does not handle (SIGTERM from a cancelled test run or CI job, SIGINT,
// SIGHUP from a closed terminal), so those signals are handled here too; SIGKILL is covered by the
// children's parent-death signal (processes.ts startProcess), and what it leaves on disk by
// left-dirs.ts.

/** Signals whose default action ends the process and which a handler can see. */
const ENDING_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;

const cleanups = new Set<() => void>();

function runAll(): void {
  const all = [...cleanups];
  cleanups.clear();
  uninstall();
  for (const c of all) {
    try {
      c();
    } catch {
      // best effort: the others still run
    }
  }
}

/**
 * A signal nobody else handles: run the cleanups, then end the process by the same signal (its
 * default action, so the exit status says which signal it was). When another listener handles the
 * signal, that listener owns the shutdown (and its exit then runs the cleanups).
 */
function onSignal(signal: NodeJS.Signals): void {
  if (process.listenerCount(signal) > 1) return;
  runAll();
  process.kill(process.pid, signal);
}

function install(): void {
  process.once('exit', runAll);
  for (const s of ENDING_SIGNALS) process.on(s, onSignal);
}

function uninstall(): void {
  process.removeListener('exit', runAll);
  for (const s of ENDING_SIGNALS) process.removeListener(s, onSignal);
}

/**
 * Runs `cleanup` (synchronous: kill children, remove directories) when this process ends without
 * having unregistered it: on exit, or on SIGTERM, SIGINT or SIGHUP when no other listener handles
 * that signal (the signal is then re-raised, so the process still ends by it). Returns the
 * unregister function, for a normal stop.
 */
export function whenThisProcessEnds(cleanup: () => void): () => void {
  if (cleanups.size === 0) install();
  cleanups.add(cleanup);
  return () => {
    cleanups.delete(cleanup);
    if (cleanups.size === 0) uninstall();
  };
}
