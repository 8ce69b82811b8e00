/**
 * Where a start of `serve` spends its time (issue #20, start → ready): each step marks the moment
 * it ended, in ms since the process started (`performance.now()`, whose origin is the process's
 * start), and the first ready report logs them all (`runner ready`, `startup_ms`).
 */

const PREFIX = 'kubiya:start:';

/** The steps of a start, in the order they usually end (some run at once: keys, policy, audit). */
export type StartupStep =
  | 'modules' // the CLI and serve's module graph loaded (serve's action begins)
  | 'config' // config parsed and validated
  | 'kubeconfig'
  | 'keys' // the control plane's keys loaded
  | 'policy' // the policy bundle loaded, its WASM compiled, its fixtures checked
  | 'audit' // the audit directory locked, its tail verified, the log open
  | 'parts' // all of the above
  | 'listen' // the HTTP port bound
  | 'synced' // the first lists of pods and runs
  | 'started'; // phase 2 done: the Lease, the reconciler and hot reload running

/** Marks the end of `step` now. */
export function markStartup(step: StartupStep): void {
  performance.mark(PREFIX + step);
}

/** Every step marked so far: step → ms since the process started, rounded. */
export function startupMarks(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of performance.getEntriesByType('mark'))
    if (m.name.startsWith(PREFIX)) out[m.name.slice(PREFIX.length)] = Math.round(m.startTime);
  return out;
}

/** Forgets the marks (after they were logged; a later start in the same process marks afresh). */
export function clearStartupMarks(): void {
  for (const m of performance.getEntriesByType('mark')) if (m.name.startsWith(PREFIX)) performance.clearMarks(m.name);
}
