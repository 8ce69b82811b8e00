/**
 * The policy commands build and test a copy of the policy directory read once
 * (src/adapters/policy-snapshot.ts), through the real CLI process and the real opa. Each row failed
 * on the code at 00105c8: opa follows a symlinked directory the runner's readers did not (its
 * modules were compiled but not in the revision; a FIFO there held opa), and opa opens every file
 * it walks (a FIFO named NOTES.txt held `opa build`, though opa loads only Rego, JSON and YAML).
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { cp, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../../src/adapters/tools.ts';
import { runCli, type CliEnd } from '../support/cli-run.ts';

const CLI = join(REPO_ROOT, 'bin', 'kubiya-runner.js');
const STEP = join(REPO_ROOT, 'examples', 'node-build.yaml');
let work = '';
let n = 0;
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'kubiya-snapshot-cli-'));
});
after(async () => rm(work, { recursive: true, force: true }));

/** A copy of the shipped policies, and a directory beside it for what a symlink points to. */
async function policies(): Promise<{ dir: string; outside: string }> {
  const base = join(work, `c${++n}`);
  const dir = join(base, 'policies');
  await cp(join(REPO_ROOT, 'policies'), dir, { recursive: true });
  const outside = join(base, 'outside');
  await mkdir(outside);
  return { dir, outside };
}

/** Opens and closes the FIFO a few times, so that an opa child stuck in open(2) of it (the bug) ends. */
function release(fifo: string): void {
  for (let i = 0; i < 3; i++)
    try {
      execFileSync('bash', ['-c', `exec 3<>"$0"; sleep 0.2`, fifo], { timeout: 2000 });
    } catch {
      // nothing waits on it
    }
}

const cli = (args: string[], fifo: string): Promise<CliEnd> =>
  runCli(args, { cwd: REPO_ROOT, hungAfterMs: 20_000, onHung: () => release(fifo) });

/** stdout and stderr of a CLI run that must end within 60 s (exit code included, not thrown). */
async function cliOut(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return promisify(execFile)(process.execPath, [CLI, ...args], { cwd: REPO_ROOT, timeout: 60_000 }).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
}

describe('a FIFO opa would have opened', { concurrency: 2 }, () => {
  const commands: [name: string, args: (dir: string) => string[]][] = [
    ['policy build', (dir) => ['policy', 'build', '--policies', dir, '--out', join(dir, '..', 'out.tgz')]],
    ['policy test', (dir) => ['policy', 'test', '--policies', dir]],
    ['policy eval', (dir) => ['policy', 'eval', STEP, '--policies', dir]],
  ];
  for (const [name, args] of commands) {
    test(`${name}: a FIFO named NOTES.txt (not a policy file) is not opened: the command ends as without it`, async () => {
      const { dir } = await policies();
      const fifo = join(dir, 'NOTES.txt');
      execFileSync('mkfifo', [fifo]);
      const r = await cli(args(dir), fifo);
      assert.equal(r.hung, false, 'hung: opa waits in open(2) of the FIFO');
      assert.equal(r.code, 0, r.stderr.slice(0, 500));
    });

    test(`${name}: a FIFO named x.rego inside a symlinked directory → exit 2, POLICY_BUILD_FAILED naming it`, async () => {
      const { dir, outside } = await policies();
      execFileSync('mkfifo', [join(outside, 'x.rego')]);
      await symlink(outside, join(dir, 'kubiya', 'linked'));
      const r = await cli(args(dir), join(outside, 'x.rego'));
      assert.equal(r.hung, false, 'hung: opa waits in open(2) of the FIFO');
      assert.equal(r.code, 2, r.stderr.slice(0, 500));
      assert.match(r.stderr, /POLICY_BUILD_FAILED/);
      assert.ok(r.stderr.includes(join(dir, 'kubiya', 'linked', 'x.rego')), r.stderr.slice(0, 500));
    });
  }
});

test('policy build: a module in a symlinked directory is in the revision (it changes when the module does)', async () => {
  const { dir, outside } = await policies();
  await writeFile(join(outside, 'extra.rego'), 'package kubiya.extra\n\nx := 1\n');
  await symlink(outside, join(dir, 'kubiya', 'linked'));
  const build = async (): Promise<string> => {
    const r = await cliOut(['policy', 'build', '--policies', dir, '--out', join(dir, '..', 'b.tgz')]);
    assert.equal(r.code, 0, r.stderr);
    return /revision (sha256-[0-9a-f]{16})/.exec(r.stdout)?.[1] ?? assert.fail(r.stdout);
  };
  const first = await build();
  await writeFile(join(outside, 'extra.rego'), 'package kubiya.extra\n\nx := 2\n');
  assert.notEqual(await build(), first);
});

test('policy test: a failing Rego test in a symlinked directory is reported at its path in the directory, not the copy', async () => {
  const { dir, outside } = await policies();
  await writeFile(join(outside, 'x_test.rego'), 'package kubiya.extra_test\n\ntest_fails if 1 == 2\n');
  await symlink(outside, join(dir, 'kubiya', 'linked'));
  const r = await cliOut(['policy', 'test', '--policies', dir]);
  assert.equal(r.code, 1, r.stderr);
  assert.ok(r.stdout.includes(`${join(dir, 'kubiya', 'linked', 'x_test.rego')}:3: test failed`), r.stdout);
  assert.doesNotMatch(`${r.stdout}${r.stderr}`, /kubiya-policy-/, 'the private copy is never named');
  // opa gives no coverage when a test fails: the command says so instead of leaving it out silently
  assert.match(r.stdout, /coverage: not reported \(opa reports it only when every unit test passes\)/);
});

test('policy test: coverage lines name the files in the directory given', async () => {
  const { dir } = await policies();
  const r = await cliOut(['policy', 'test', '--policies', dir]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split('\n').filter((l) => l.startsWith('coverage'));
  assert.ok(lines.length > 0, r.stdout);
  for (const l of lines) assert.ok(l.includes(dir), l);
});
