/**
 * Class (a newcomer following BENCHMARKS.md "How to run"): "a documented bench command silently
 * ignores part of what it is given". Variants pinned here:
 *   - profile-summary with several profiles (the docs pass `.cache/sprof/*.cpuprofile`, one file per
 *     serve process or worker thread) sums them function by function; one file is as before;
 *   - its `--top N` anywhere on the line, and no file or a bad N refused (real child process);
 *   - decision.ts `--only` with any value but `wasm` is refused before any work (real child process).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { selfTimes } from '../../bench/profile-summary.ts';

const frame = (functionName: string): { functionName: string; url: string; lineNumber: number } => ({
  functionName,
  url: '',
  lineNumber: 0,
});

/** A profile whose samples are `[name, µs]` pairs, in that order. */
function profile(samples: readonly (readonly [string, number])[]): {
  nodes: { id: number; callFrame: ReturnType<typeof frame> }[];
  samples: number[];
  timeDeltas: number[];
} {
  const names = [...new Set(samples.map(([n]) => n))];
  return {
    nodes: names.map((n, i) => ({ id: i + 1, callFrame: frame(n) })),
    samples: samples.map(([n]) => names.indexOf(n) + 1),
    timeDeltas: samples.map(([, us]) => us),
  };
}

const a = profile([
  ['parse', 3000],
  ['(idle)', 50_000],
  ['hash', 1000],
]);
const b = profile([
  ['hash', 4000],
  ['(garbage collector)', 2000],
]);

test('selfTimes: one profile as before; several summed per function, shares of all the busy time', () => {
  assert.deepEqual(selfTimes(a), [
    { name: 'parse', ms: 3, share: 0.75 },
    { name: 'hash', ms: 1, share: 0.25 },
  ]);
  assert.deepEqual(selfTimes(a, b), [
    { name: 'hash', ms: 5, share: 0.5 },
    { name: 'parse', ms: 3, share: 0.3 },
    { name: '(garbage collector)', ms: 2, share: 0.2 },
  ]);
});

const node = process.execPath;
const run = (args: readonly string[]): ReturnType<typeof spawnSync> =>
  spawnSync(node, args, { cwd: resolve(import.meta.dirname, '../..'), encoding: 'utf8', timeout: 60_000 });

test('profile-summary CLI: every file given is read, --top anywhere, no file or a bad --top refused', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'prof-'));
  try {
    await writeFile(join(dir, 'a.cpuprofile'), JSON.stringify(a));
    await writeFile(join(dir, 'b.cpuprofile'), JSON.stringify(b));
    const both = run(['bench/profile-summary.ts', '--top', '2', join(dir, 'a.cpuprofile'), join(dir, 'b.cpuprofile')]);
    assert.equal(both.status, 0, String(both.stderr));
    const out = String(both.stdout);
    assert.match(out, /^2 profiles, summed/);
    assert.match(out, /\| 5 ms \| 50\.0 % \| `hash` \|/);
    assert.match(out, /\| 3 ms \| 30\.0 % \| `parse` \|/);
    assert.doesNotMatch(out, /garbage collector/); // --top 2
    const one = run(['bench/profile-summary.ts', join(dir, 'a.cpuprofile')]);
    assert.equal(one.status, 0, String(one.stderr));
    assert.match(String(one.stdout), /\| 3 ms \| 75\.0 % \| `parse` \|/);
    for (const bad of [[], ['--top', '5'], [join(dir, 'a.cpuprofile'), '--top', 'x']]) {
      const r = run(['bench/profile-summary.ts', ...bad]);
      assert.notEqual(r.status, 0, bad.join(' '));
      assert.match(String(r.stderr), /usage: node bench\/profile-summary\.ts/);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('decision.ts --only: any value but wasm is refused before the bench starts', () => {
  for (const bad of [['--only'], ['--only', 'floor'], ['--only', 'WASM']]) {
    const r = run(['--expose-gc', 'bench/decision.ts', ...bad]);
    assert.notEqual(r.status, 0, bad.join(' '));
    assert.match(String(r.stderr), /--only takes one value: wasm/);
  }
});
