/**
 * A policy command stopped while its tool runs (the class: "no process left running, no
 * half-written state, after the command ends early"). Before (00105c8), `policy build` stopped by
 * SIGTERM left its `opa build` child running, and that orphan then wrote its raw, unchecked,
 * unsigned bundle to `--out`; a build killed between opa's write and the checks left the same. Now
 * the tools' children are killed when the command ends (src/adapters/exit-cleanup.ts
 * execFileOwned), the private copies are removed (withTempDir), and `--out` is written only once,
 * whole, after every check (writeTarGz: a hidden file renamed over it).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { REPO_ROOT } from '../../src/adapters/tools.ts';

const CLI = join(REPO_ROOT, 'bin', 'kubiya-runner.js');
const STEP = join(REPO_ROOT, 'examples', 'node-build.yaml');
let work = '';
let n = 0;
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'kubiya-stop-cli-'));
  await writeFile(
    join(work, 'values.yaml'),
    'policy:\n  settings:\n    images:\n      allowedRegistries: ["ghcr.io"]\n',
  );
});
after(async () => rm(work, { recursive: true, force: true }));

/** The children of `pid` (pid and command line), from ps. */
function childrenOf(pid: number): { pid: number; args: string }[] {
  try {
    return execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(pid)], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => {
        const [p, ...args] = l.trim().split(/\s+/);
        return { pid: Number(p), args: args.join(' ') };
      });
  } catch {
    return []; // ps exits 1 when there is none
  }
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return !/^\S+ \S+ Z/.test(execFileSync('cat', [`/proc/${pid}/stat`], { encoding: 'utf8' }));
  } catch {
    return false;
  }
};

/**
 * Starts the CLI with its own TMPDIR, waits until it runs a child whose command line matches `tool`
 * (the tool's binary and subcommand: `opa build`, `opa test`, `helm template`), then sends `signal`
 * to the CLI alone. Returns the exit code, the tool's pid, the TMPDIR and the CLI's stderr.
 */
async function stopWhileToolRuns(
  args: string[],
  tool: RegExp,
  signal: NodeJS.Signals,
): Promise<{ code: number | null; tool: number; tmp: string; stderr: string }> {
  const tmp = join(work, `tmp-${++n}`);
  await mkdir(tmp);
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', TMPDIR: tmp },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const closed = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  const deadline = Date.now() + 30_000;
  let seen: number | undefined;
  while (seen === undefined && Date.now() < deadline && child.exitCode === null) {
    seen = childrenOf(child.pid!).find((c) => tool.test(c.args))?.pid;
    if (seen === undefined) await sleep(2);
  }
  if (seen === undefined) {
    child.kill('SIGKILL');
    assert.fail(`no child ${String(tool)} seen (exit ${child.exitCode}): ${stderr.slice(0, 300)}`);
  }
  child.kill(signal);
  return { code: await closed, tool: seen, tmp, stderr };
}

/** Polls until `pid` is gone (a zombie counts as gone), at most 1 s: a tool left running outlives that. */
async function gone(pid: number): Promise<boolean> {
  for (const end = Date.now() + 1_000; Date.now() < end; await sleep(20)) if (!alive(pid)) return true;
  return false;
}

async function policies(): Promise<string> {
  const dir = join(work, `p${++n}`, 'policies');
  await cp(join(REPO_ROOT, 'policies'), dir, { recursive: true });
  return dir;
}

describe('stopped while opa or helm runs: the child ends with it, the copies are removed, --out is untouched', () => {
  const rows: [name: string, args: (dir: string, out: string) => string[], tool: RegExp][] = [
    ['policy build', (dir, out) => ['policy', 'build', '--policies', dir, '--out', out], /\/opa build /],
    ['policy test', (dir) => ['policy', 'test', '--policies', dir], /\/opa test /],
    [
      'policy eval --values',
      (dir) => ['policy', 'eval', STEP, '--policies', dir, '--values', join(work, 'values.yaml')],
      /\/helm template /,
    ],
  ];
  for (const [name, args, tool] of rows)
    for (const [signal, code] of [
      ['SIGTERM', 143],
      ['SIGINT', 130],
    ] as const)
      test(`${name}, ${signal} while ${String(tool)} runs → exit ${code}; it ends too, no copy left, no --out`, async () => {
        const dir = await policies();
        const out = join(dir, '..', 'out.tgz');
        const r = await stopWhileToolRuns(args(dir, out), tool, signal);
        assert.equal(r.code, code, r.stderr.slice(0, 300));
        assert.ok(await gone(r.tool), `the child ${r.tool} (${String(tool)}) still runs`);
        assert.deepEqual(
          (await readdir(r.tmp)).filter((f) => /^kubiya-(policy|values|bundle)-/.test(f)),
          [],
          'the private copies are removed',
        );
        assert.deepEqual(
          await readdir(join(dir, '..')),
          ['policies'],
          'nothing written beside the policies (--out, its capabilities)',
        );
      });

  test('policy build killed (SIGKILL) while opa runs: --out is not written by the orphan; it stays as it was', async () => {
    const dir = await policies();
    const out = join(dir, '..', 'out.tgz');
    const r = await stopWhileToolRuns(['policy', 'build', '--policies', dir, '--out', out], /\/opa build /, 'SIGKILL');
    // SIGKILL runs no handler: the orphan opa finishes on its own, writing only into the private copy
    await gone(r.tool);
    assert.equal(existsSync(out), false, 'the orphan wrote --out');
    assert.deepEqual(await readdir(join(dir, '..')), ['policies'], 'nothing beside --out (partial, capabilities)');
  });
});

/**
 * Red team 18, finding 4: a stopped command still left temporary directories — `policy eval`'s
 * bundle directory (a bare mkdtemp, never registered), and now and then a registered one (made
 * asynchronously: a signal between the directory and its registration; or made again by a
 * recursive mkdir still in flight), once a values copy holding the runner token. The class: any
 * private file left behind by a command stopped at ANY moment. Each run gets its own TMPDIR,
 * is stopped after a delay from a fixed spread over the command's life (bounded: 3 signals × 6
 * delays per command), and must leave nothing in its TMPDIR but the CLI's compile cache.
 */
describe('stopped at any moment, a policy command leaves nothing in TMPDIR', () => {
  const TOKEN = 'SECRET-RUNNER-TOKEN-rt18';
  const COMMANDS: [name: string, args: string[]][] = [
    ['policy eval (builds the policies in a temporary directory)', ['policy', 'eval', STEP]],
    ['policy eval --values (a values copy holding the runner token)', ['policy', 'eval', STEP, '--values', 'VALUES']],
  ];
  const DELAYS_MS = [150, 250, 400, 600, 900, 1300];
  for (const [name, template] of COMMANDS)
    for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const)
      test(`${name}, ${signal} after ${DELAYS_MS.join('/')} ms`, async () => {
        const values = join(work, 'values-token.yaml');
        await writeFile(values, `runner:\n  token: ${TOKEN}\n`, { mode: 0o600 });
        const args = template.map((a) => (a === 'VALUES' ? values : a));
        const left: string[] = [];
        for (const delay of DELAYS_MS) {
          const tmp = join(work, `tmp-${++n}`);
          await mkdir(tmp);
          const child = spawn(process.execPath, [CLI, ...args], {
            cwd: REPO_ROOT,
            env: { PATH: process.env.PATH ?? '', TMPDIR: tmp },
            stdio: ['ignore', 'ignore', 'ignore'],
          });
          const closed = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
          await sleep(delay);
          child.kill(signal);
          await closed;
          await sleep(50); // anything the process's last writes could still make
          // The checkout's bin keeps its V8 compile cache in TMPDIR on purpose (a cache, shared by runs).
          const there = (await readdir(tmp, { recursive: true })).filter(
            (p) => !p.startsWith('kubiya-runner-compile-cache-'),
          );
          if (there.length > 0) left.push(`${delay} ms: ${there.slice(0, 8).join(', ')}`);
        }
        assert.deepEqual(left, [], 'nothing is left in TMPDIR');
      });
});
