// The class: an output file a command writes (a policy bundle at --out, an audit report, a JUnit
// file) seen or left half-written — by a reader while it is written, after a write error, after a
// stop signal. src/adapters/atomic-file.ts writes a hidden file beside it and renames it over.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { replaceWhole, writeFileWhole } from '../../src/adapters/atomic-file.ts';

let work = '';
let n = 0;
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'kubiya-atomic-'));
});
after(async () => rm(work, { recursive: true, force: true }));

async function dir(): Promise<string> {
  const d = join(work, `d${++n}`);
  await mkdir(d);
  return d;
}

describe('writeFileWhole / replaceWhole', () => {
  test('a new file, then a replaced one: the content, and nothing else in the directory', async () => {
    const d = await dir();
    const f = join(d, 'out.html');
    await writeFileWhole(f, 'one');
    await writeFileWhole(f, 'two');
    assert.equal(await readFile(f, 'utf8'), 'two');
    assert.deepEqual(await readdir(d), ['out.html']);
  });

  test('mode applies to the file written', async () => {
    const d = await dir();
    await writeFileWhole(join(d, 'k'), 'x', 0o600);
    assert.equal((await stat(join(d, 'k'))).mode & 0o777, 0o600);
  });

  test('a reader during the write sees the old file whole, never part of the new one', async () => {
    const d = await dir();
    const f = join(d, 'bundle.tar.gz');
    await writeFile(f, 'old');
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const writing = replaceWhole(f, async (partial) => {
      await writeFile(partial, 'new, first half');
      await gate;
      await writeFile(partial, 'new, whole', { flag: 'w' });
    });
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(await readFile(f, 'utf8'), 'old');
    release();
    await writing;
    assert.equal(await readFile(f, 'utf8'), 'new, whole');
  });

  const failures: [name: string, write: (partial: string) => Promise<void>][] = [
    [
      'the write throws after half',
      async (p) => {
        await writeFile(p, 'half');
        throw new Error('ENOSPC, say');
      },
    ],
    ['the write throws before creating anything', () => Promise.reject(new Error('early'))],
    ['the write creates nothing (rename fails: ENOENT)', () => Promise.resolve()],
  ];
  for (const [name, write] of failures)
    test(`${name}: throws, the old file is untouched, no hidden file is left`, async () => {
      const d = await dir();
      const f = join(d, 'report.html');
      await writeFile(f, 'old');
      await assert.rejects(replaceWhole(f, write));
      assert.equal(await readFile(f, 'utf8'), 'old');
      assert.deepEqual(await readdir(d), ['report.html']);
    });

  test('a directory that does not exist: throws, nothing made', async () => {
    const d = await dir();
    await assert.rejects(writeFileWhole(join(d, 'nope', 'f'), 'x'), { code: 'ENOENT' });
    assert.deepEqual(await readdir(d), []);
  });

  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const)
    test(`a process stopped by ${signal} mid-write: the old file stays, the hidden file is removed`, async () => {
      const d = await dir();
      const f = join(d, 'out.tgz');
      await writeFile(f, 'old');
      const mod = pathToFileURL(join(import.meta.dirname, '..', '..', 'src', 'adapters', 'atomic-file.ts')).href;
      const script = `
        const { replaceWhole } = await import(${JSON.stringify(mod)});
        const { writeFile } = await import('node:fs/promises');
        await replaceWhole(${JSON.stringify(f)}, async (p) => {
          await writeFile(p, 'half');
          process.stdout.write('writing\\n');
          await new Promise(() => setInterval(() => {}, 1000));
        });`;
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
      assert.equal((await readdir(d)).length, 2, 'the hidden file exists while writing');
      child.kill(signal);
      const [, ended] = await new Promise<[number | null, NodeJS.Signals | null]>((r) =>
        child.once('close', (code, sig) => r([code, sig])),
      );
      assert.equal(ended, signal, 'the process still ends by the signal');
      assert.equal(await readFile(f, 'utf8'), 'old');
      assert.deepEqual(await readdir(d), ['out.tgz']);
    });
});
