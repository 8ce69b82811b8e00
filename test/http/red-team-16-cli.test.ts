/**
 * Red team 16 (3 December), findings 2 and 3, through the real CLI process (the harness of
 * test/http/operator-files.test.ts). Each case fails on the code at 434acc4.
 * 2: `policy build --policies D` with a FIFO named *.rego in D: the runner's own readers skip it
 *    (Dirent.isFile), but `opa build` opens it and waits for a writer for ever (wait_for_partner).
 * 3: a file of the wrong kind given where a workflow or data file belongs: the error echoes its
 *    bytes (the YAML parser's code frame: the whole offending line; JSON.parse: the first 10 bytes).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { REPO_ROOT } from '../../src/adapters/tools.ts';
import { runCli, type CliEnd } from '../support/cli-run.ts';

const STEP = join(REPO_ROOT, 'examples', 'node-build.yaml');
let work = '';
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'kubiya-rt16-cli-'));
});
after(async () => rm(work, { recursive: true, force: true }));

/** Runs the CLI to its end; after 20 s it is killed (SIGKILL: the process may sit in open(2)) and reported as hung. */
const cli = (args: string[]): Promise<CliEnd> => runCli(args, { cwd: REPO_ROOT, hungAfterMs: 20_000 });

test('finding 2: policy build --policies with a FIFO named evil.rego ends (exit 2) instead of waiting in opa for ever', async () => {
  const dir = join(work, 'f2', 'policies');
  await cp(join(REPO_ROOT, 'policies'), dir, { recursive: true });
  execFileSync('mkfifo', [join(dir, 'evil.rego')]);
  const r = await cli(['policy', 'build', '--policies', dir, '--out', join(work, 'b.tgz')]);
  // a killed opa child would otherwise stay blocked on the FIFO: release it
  for (let i = 0; i < 3; i++)
    try {
      execFileSync('bash', ['-c', `exec 3<>"$0"; sleep 0.2`, join(dir, 'evil.rego')], { timeout: 2000 });
    } catch {
      // nothing waits on it
    }
  assert.equal(r.hung, false, 'hung: opa build waits in open(2) of the FIFO');
  assert.equal(r.code, 2, r.stderr.slice(0, 500));
});

test('finding 3: policy eval <wrong file> does not echo the file', async () => {
  const file = join(work, 'token.yaml');
  await writeFile(file, 'token: s3cr3t-TOKEN-value: x\n');
  const r = await cli(['policy', 'eval', file]);
  assert.equal(r.code, 2);
  assert.ok(!r.stderr.includes('s3cr3t'), `content echoed: ${r.stderr}`);
});

test('finding 3: policy eval --data <wrong file> does not echo the file', async () => {
  const file = join(work, 'secret.txt');
  await writeFile(file, 's3cr3t-DATA-value\n');
  const r = await cli(['policy', 'eval', STEP, '--data', file]);
  assert.equal(r.code, 2);
  assert.ok(!r.stderr.includes('s3cr3t'), `content echoed: ${r.stderr}`);
});
