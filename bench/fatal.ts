/**
 * A bench's last line of defence (red team 4 follow-up, first for the peers bench; the full
 * `npm run bench` installs it too, issue 20): a rejection nobody observed or an exception nobody
 * caught must not end the process while rows and control planes still run (kube-apiserver, etcd,
 * kwok, `serve`, Gatekeeper, workflow-controllers left behind, ports held). The guard reports the
 * cause, runs every registered cleanup (newest first, each bounded), then exits 1. Benches are
 * written so this never fires; it is there for the fault not yet seen.
 */

type Cleanup = () => Promise<void>;
const cleanups = new Set<Cleanup>();

/** Registers `fn` to run before a fatal exit; returns the function that unregisters it. */
export function onFatalCleanup(fn: Cleanup): () => void {
  cleanups.add(fn);
  return () => void cleanups.delete(fn);
}

/** Runs (and unregisters) every cleanup, newest first; a failing or hanging one (over `eachMs`) is logged, not fatal. */
export async function runCleanups(log: (s: string) => void, eachMs = 60_000): Promise<void> {
  for (const fn of [...cleanups].reverse()) {
    cleanups.delete(fn);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        log(`  cleanup still running after ${eachMs} ms: going on`);
        resolve();
      }, eachMs);
    });
    await Promise.race([fn().catch((e: unknown) => log(`  cleanup failed: ${String(e)}`)), late]);
    clearTimeout(timer);
  }
}

/**
 * Installs process-level handlers for 'unhandledRejection' and 'uncaughtException': the first one
 * logs the cause (with its stack, each line starting with `label:`), runs every cleanup, then calls
 * `exit(1)`; later ones are logged only.
 */
export function installFatalGuard(
  log: (s: string) => void,
  label = 'bench',
  exit: (code: number) => void = (code) => process.exit(code),
): void {
  let handling = false;
  const handler =
    (what: string) =>
    (reason: unknown): void => {
      const text = reason instanceof Error ? (reason.stack ?? reason.message) : String(reason);
      if (handling) return log(`${label}: another ${what} while stopping: ${text}`);
      handling = true;
      log(`${label}: ${what}: ${text}\n${label}: stopping every row and the control plane, then exiting 1`);
      void runCleanups(log).finally(() => exit(1));
    };
  process.on('unhandledRejection', handler('unhandled rejection'));
  process.on('uncaughtException', handler('uncaught exception'));
}
