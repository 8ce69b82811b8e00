import { setTimeout as sleep } from 'node:timers/promises';
import { argNames, runningCommandLines } from '../../src/dev/processes.ts';

/** Whether any running process names `dir` (an argument that is it or a path under it, also after "="). */
export function anyProcessNames(dir: string): boolean {
  return runningCommandLines().some((argv) => argv.some((a) => argNames(a, dir)));
}

/** Polls until no process names `dir`, up to `ms`; true when none does. */
export async function noneNamesWithin(dir: string, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (anyProcessNames(dir) && Date.now() < end) await sleep(50);
  return !anyProcessNames(dir);
}
