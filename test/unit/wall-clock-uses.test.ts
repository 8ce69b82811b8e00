/**
 * The class (red team 20, finding 4; test/http/wall-clock-steps.test.ts): a duration, deadline or
 * cache age measured with Date.now(), the wall clock, which can be stepped by any amount. Durations
 * are measured on performance.now() (monotonic). This keeps it so: every Date.now() left in src/
 * is listed here with why the wall clock is meant there (a time compared with a file's mtime,
 * which is a wall-clock time), and a new one fails until it is classified — as a duration (use
 * performance.now()) or as a wall-clock comparison (add it here, with its reason).
 */
import assert from 'node:assert/strict';
import { globSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../../src/adapters/tools.ts';

/** `file: trimmed line` → why the wall clock is meant there. */
const WALL_CLOCK: Readonly<Record<string, string>> = {
  'src/adapters/audit-file-lock.ts: const mtimeStale = Date.now() - mtime > staleMs;':
    "a lock file's mtime is a wall-clock time (its holder's heartbeat); a beating holder is judged by content changes on the monotonic clock",
  'src/dev/left-dirs.ts: return s.isDirectory() && Date.now() - s.mtimeMs >= minAgeMs;':
    "a directory's age from its mtime, a wall-clock time",
};

/** Every non-comment line of src/**\/*.ts that calls Date.now(), as `file: trimmed line`. */
function wallClockCalls(): string[] {
  const found: string[] = [];
  for (const file of globSync('src/**/*.ts', { cwd: REPO_ROOT })) {
    const lines = readFileSync(join(REPO_ROOT, file), 'utf8').split('\n');
    for (const line of lines) {
      const code = line.trim();
      if (code.startsWith('//') || code.startsWith('*') || code.startsWith('/*')) continue;
      if (/\bDate\.now\b/.test(code)) found.push(`${relative('.', file)}: ${code}`);
    }
  }
  return found.sort();
}

test('every Date.now() in src/ is a wall-clock comparison listed with its reason; durations use performance.now()', () => {
  const calls = wallClockCalls();
  const unlisted = calls.filter((c) => WALL_CLOCK[c] === undefined);
  assert.deepEqual(
    unlisted,
    [],
    'measure durations, deadlines and cache ages with performance.now(); list a deliberate wall-clock comparison in WALL_CLOCK',
  );
  const stale = Object.keys(WALL_CLOCK).filter((c) => !calls.includes(c));
  assert.deepEqual(stale, [], 'WALL_CLOCK lists a line that is no longer in src/');
});
