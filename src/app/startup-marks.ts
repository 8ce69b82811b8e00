/**
 * Where a start of `serve` spends its time (issue #20, start → ready): each step marks the moment
 * it ended, in ms since the process started (`performance.now()`, whose origin is the process's
 * start), with the process's CPU time by then (user + system, all threads), and the first ready
 * report logs them all (`runner ready`: `startup_ms`, `startup_cpu_ms`).
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
  performance.mark(PREFIX + step, { detail: cpuMs() });
}

/** The process's CPU time so far (user + system), ms. */
export function cpuMs(): number {
  const { user, system } = process.cpuUsage();
  return Math.round((user + system) / 1000);
}

/** Every step marked so far: step → ms since the process started (`wall`) and CPU ms by then (`cpu`). */
export function startupMarks(): { wall: Record<string, number>; cpu: Record<string, number> } {
  const wall: Record<string, number> = {};
  const cpu: Record<string, number> = {};
  for (const m of performance.getEntriesByType('mark')) {
    if (!m.name.startsWith(PREFIX)) continue;
    const step = m.name.slice(PREFIX.length);
    wall[step] = Math.round(m.startTime);
    cpu[step] = Number((m as { detail?: unknown }).detail);
  }
  return { wall, cpu };
}

/** Forgets the marks (after they were logged; a later start in the same process marks afresh). */
export function clearStartupMarks(): void {
  for (const m of performance.getEntriesByType('mark')) if (m.name.startsWith(PREFIX)) performance.clearMarks(m.name);
}
