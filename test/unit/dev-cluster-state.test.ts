import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../../src/adapters/tools.ts';
import {
  claimClusterDir,
  ClusterStateError,
  MARKER_FILE,
  readClusterState,
  STATE_FILE,
  type UpState,
} from '../../src/dev/cluster-state.ts';

const run = promisify(execFile);
const cli = join(REPO_ROOT, 'bin', 'kubiya-runner.js');

const isCode = (code: string) => (e: unknown) => e instanceof ClusterStateError && e.code === code;

/**
 * The record `dev cluster up` leaves (<dir>/state.json) decides what `down` and the next `up` signal
 * and remove. The class: a record that is missing, cut short or hostile (red team 5, findings 1 and
 * 7: a truncated file was "nothing there"; {"dir":"/","pids":[{"pid":1}]} made `down` send
 * kill(-1)). Every such record is refused with CLUSTER_STATE_INVALID naming the file, before anything
 * is signalled. The PID 1 / 0 / -1 rows are checked on the parser only (never through a `down` that
 * could signal); the CLI rows use a stranger this test starts.
 */
describe('state.json: a record that is cut short or hostile is refused, naming the file', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kubiya-state-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));
  const good = (d: string): UpState => ({ dir: d, phase: 'up', pids: [{ name: 'etcd', pid: 4242 }] });

  // [what, the file's text given the directory]
  const hostile: readonly (readonly [string, (d: string) => string])[] = [
    ['empty (a write cut short)', () => ''],
    ['truncated JSON', (d) => JSON.stringify(good(d)).slice(0, 20)],
    ['not an object', () => '[]'],
    ['reported: dir "/" and PID 1', () => JSON.stringify({ ...good('/'), pids: [{ name: 'etcd', pid: 1 }] })],
    ['PID 1', (d) => JSON.stringify({ ...good(d), pids: [{ name: 'etcd', pid: 1 }] })],
    ['PID 0 (kill(0): our own group)', (d) => JSON.stringify({ ...good(d), pids: [{ name: 'etcd', pid: 0 }] })],
    ['PID -1 (kill(-1): every process)', (d) => JSON.stringify({ ...good(d), pids: [{ name: 'etcd', pid: -1 }] })],
    ['a negative PID (a group)', (d) => JSON.stringify({ ...good(d), pids: [{ name: 'etcd', pid: -4242 }] })],
    ['a fractional PID', (d) => JSON.stringify({ ...good(d), pids: [{ name: 'etcd', pid: 42.5 }] })],
    ['a PID as a string', (d) => JSON.stringify({ ...good(d), pids: [{ name: 'etcd', pid: '4242' }] })],
    ['this process', (d) => JSON.stringify({ ...good(d), pids: [{ name: 'etcd', pid: process.pid }] })],
    ['its parent', (d) => JSON.stringify({ ...good(d), pids: [{ name: 'etcd', pid: process.ppid }] })],
    ['no pids', (d) => JSON.stringify({ dir: d })],
    [
      'start ticks not a number',
      (d) => JSON.stringify({ ...good(d), pids: [{ name: 'e', pid: 42, startTicks: 'x' }] }),
    ],
    ['dir "/"', () => JSON.stringify(good('/'))],
    ['a relative dir', () => JSON.stringify(good('cluster'))],
    ['a dir not normalised', (d) => JSON.stringify(good(`${d}/../${d.split('/').pop() ?? ''}`))],
    ['another directory', () => JSON.stringify(good('/tmp/kubiya-other-cluster'))],
    ['a prefix of the directory', (d) => JSON.stringify(good(d.slice(0, -2)))],
    [
      'a real node outside the dir',
      (d) => JSON.stringify({ ...good(d), realNode: { dir: '/var/lib', kubeconfig: 'k', pids: [] } }),
    ],
    [
      'a real node with PID 1',
      (d) =>
        JSON.stringify({ ...good(d), realNode: { dir: `${d}/node`, kubeconfig: 'k', pids: [{ name: 'k', pid: 1 }] } }),
    ],
  ];
  for (const [what, text] of hostile)
    test(`refused: ${what}`, async () => {
      await writeFile(join(dir, STATE_FILE), text(dir));
      await assert.rejects(readClusterState(dir), (e: unknown) => {
        assert.ok(isCode('CLUSTER_STATE_INVALID')(e), String(e));
        assert.match((e as Error).message, new RegExp(`${join(dir, STATE_FILE)} is not a usable record`));
        return true;
      });
    });

  test('accepted: a good record, an old one without phase or start ticks (phase "up"), none at all', async () => {
    await writeFile(join(dir, STATE_FILE), JSON.stringify({ ...good(dir), phase: undefined }));
    assert.equal((await readClusterState(dir))?.phase, 'up');
    const starting = { ...good(dir), phase: 'starting', owner: { pid: 4242, startTicks: '1' } };
    await writeFile(join(dir, STATE_FILE), JSON.stringify(starting));
    assert.deepEqual(await readClusterState(dir), starting);
    await rm(join(dir, STATE_FILE));
    assert.equal(await readClusterState(dir), undefined);
  });

  test('"down" with a hostile record: refused with the code, the process it names is not signalled', async () => {
    const stranger = spawn('sh', ['-c', 'sleep 60; true'], { detached: true, stdio: 'ignore' });
    await once(stranger, 'spawn');
    const pid = stranger.pid ?? -1;
    try {
      for (const state of [
        { ...good('/'), pids: [{ name: 'etcd', pid }] }, // reported: dir "/" (the old test: every argv "named" it)
        { ...good(join(tmpdir(), 'kubiya-other-cluster')), pids: [{ name: 'etcd', pid }] }, // another dir's record
      ]) {
        await writeFile(join(dir, STATE_FILE), JSON.stringify(state));
        const r = await run(process.execPath, [cli, 'dev', 'cluster', 'down', '--dir', dir]).catch(
          (e: { code: number; stderr: string }) => e,
        );
        assert.equal((r as { code: number }).code, 1);
        assert.match((r as { stderr: string }).stderr, /CLUSTER_STATE_INVALID/);
        assert.ok(existsSync(join(dir, STATE_FILE)), 'the record is kept');
        assert.equal(stranger.exitCode, null, 'the stranger still runs');
        assert.doesNotThrow(() => process.kill(pid, 0));
      }
    } finally {
      stranger.kill('SIGKILL');
    }
  });

  test('"down" with a truncated record: refused (was: "no local control plane is up" and the dir removed)', async () => {
    await writeFile(join(dir, STATE_FILE), '{"dir": "/tm');
    const r = await run(process.execPath, [cli, 'dev', 'cluster', 'down', '--dir', dir]).catch(
      (e: { code: number; stderr: string }) => e,
    );
    assert.equal((r as { code: number }).code, 1);
    assert.match((r as { stderr: string }).stderr, new RegExp(`CLUSTER_STATE_INVALID: ${join(dir, STATE_FILE)}`));
    assert.equal(await readFile(join(dir, STATE_FILE), 'utf8'), '{"dir": "/tm');
  });
});

/**
 * What `up` may remove before it starts (red team 5, finding 2: `up --dir X` rm -rf'd X whatever it
 * held). The class: a directory `up` did not make. Only an absent or empty one, or one holding the
 * marker `up` writes first (or a valid record), is cleared; anything else is refused, nothing removed.
 */
describe('the directory "up" claims: only absent, empty or ours', () => {
  let base = '';
  before(async () => {
    base = await mkdtemp(join(tmpdir(), 'kubiya-claim-'));
  });
  after(() => rm(base, { recursive: true, force: true }));
  const first = (dir: string): UpState => ({ dir, phase: 'starting', pids: [] });
  const cleared: string[] = [];
  const clear = (d: string): void => {
    cleared.push(d);
  };

  // [what, prepare the directory, recorded (a valid record was read), claimed?]
  const cases: readonly (readonly [string, (d: string) => Promise<void>, boolean, boolean])[] = [
    ['absent', () => Promise.resolve(), false, true],
    ['empty', (d) => mkdir(d), false, true],
    ['ours: holds the marker', async (d) => (await mkdir(d), await writeFile(join(d, MARKER_FILE), '')), false, true],
    [
      'ours: a valid record was read',
      async (d) => (await mkdir(d), await writeFile(join(d, 'etcd.log'), '')),
      true,
      true,
    ],
    [
      'reported: a user file',
      async (d) => (await mkdir(d), await writeFile(join(d, 'notes.txt'), 'my notes')),
      false,
      false,
    ],
    ['a user directory', async (d) => (await mkdir(d), await mkdir(join(d, 'src'))), false, false],
    ['a hidden user file', async (d) => (await mkdir(d), await writeFile(join(d, '.bashrc'), '')), false, false],
    ['a regular file', (d) => writeFile(d, 'data'), false, false],
  ];
  for (const [what, prepare, recorded, claimed] of cases)
    test(`${what}: ${claimed ? 'claimed' : 'refused, nothing removed'}`, async () => {
      const dir = join(base, what.replace(/\W+/g, '-'));
      await prepare(dir);
      const before = existsSync(dir) ? snapshot(dir) : undefined;
      if (claimed) {
        claimClusterDir(first(dir), recorded, (d) => {
          clear(d);
          rmSync(d, { recursive: true, force: true });
        });
        assert.ok(existsSync(join(dir, MARKER_FILE)), 'the marker is written');
        assert.deepEqual(JSON.parse(readFileSync(join(dir, STATE_FILE), 'utf8')), first(dir), 'the first record');
      } else {
        assert.throws(() => claimClusterDir(first(dir), recorded, clear), isCode('CLUSTER_DIR_NOT_OURS'));
        assert.deepEqual(snapshot(dir), before, 'nothing removed or added');
      }
    });

  test('two "up"s on one directory: the second claim is refused (the record is created exclusively)', () => {
    const dir = join(base, 'twice');
    claimClusterDir(first(dir), false, clear);
    assert.throws(() => claimClusterDir(first(dir), true, () => undefined), isCode('CLUSTER_STATE_INVALID'));
  });
});

/** A file's content, or a directory's entries (recursive, sorted) with their contents. */
function snapshot(path: string): string {
  if (!statSync(path).isDirectory()) return readFileSync(path, 'utf8');
  const entries = readdirSync(path, { recursive: true, encoding: 'utf8' }).sort();
  return JSON.stringify(
    entries.map((e) => [e, statSync(join(path, e)).isDirectory() ? '/' : readFileSync(join(path, e), 'utf8')]),
  );
}
