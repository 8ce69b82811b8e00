/**
 * `serve` loads only its own module graph (issue #20, start → ready): main.ts imports a command's
 * module only when the command line names it. The class: any first argument that names no command
 * of our own — options, nothing, a typo, a name that only Object.prototype has — must still get
 * every command (the top-level help and commander's suggestions list them all); a named command
 * gets exactly itself.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { commandsFor, main } from '../../src/cli/main.ts';

const ALL = ['serve', 'demo', 'dev', 'policy', 'audit'];
const REPO = join(import.meta.dirname, '..', '..');

test('a command named first is the only one built; anything else builds them all', () => {
  for (const name of ALL) {
    assert.deepEqual(commandsFor([name]), [name], name);
    assert.deepEqual(commandsFor([name, '--help']), [name], `${name} --help`);
  }
  const others = [[], ['--help'], ['-h'], ['help'], ['nope'], ['Serve'], ['serve '], ['--config', 'serve']];
  const prototypeNames = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf'].map((n) => [n]);
  for (const argv of [...others, ...prototypeNames]) assert.deepEqual(commandsFor(argv), ALL, JSON.stringify(argv));
});

test('the top-level help still lists every command', async () => {
  const out: string[] = [];
  const code = await main(['--help'], { out: (l) => out.push(l), err: () => undefined, color: false }, {});
  assert.equal(code, 0);
  for (const name of ALL) assert.match(out.join('\n'), new RegExp(`^  ${name}\\b`, 'm'), name);
});

test('serve does not load the modules of the other commands (a real process, every module it loads recorded)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kubiya-cli-lazy-'));
  try {
    const hook = join(dir, 'hook.mjs');
    await writeFile(
      hook,
      `import { registerHooks } from 'node:module';
import { writeFileSync } from 'node:fs';
const urls = [];
registerHooks({ load(url, ctx, next) { urls.push(url); return next(url, ctx); } });
process.on('exit', () => writeFileSync(${JSON.stringify(join(dir, 'loaded.json'))}, JSON.stringify(urls)));
`,
    );
    const run = async (...argv: string[]): Promise<string[]> => {
      await promisify(execFile)(process.execPath, ['--import', hook, join(REPO, 'bin', 'kubiya-runner.js'), ...argv]);
      return (JSON.parse(await readFile(join(dir, 'loaded.json'), 'utf8')) as string[]).map((u) =>
        u.startsWith('file:') ? u.slice(u.indexOf('/src/') + 1) : u,
      );
    };
    const serve = await run('serve', '--help');
    assert.ok(serve.includes('src/cli/serve.ts') && serve.includes('src/app/server.ts'), 'serve loads its own graph');
    const foreign = serve.filter((u) => /^src\/(cli\/(demo|dev|policy|audit)|dev\/)/.test(u));
    assert.deepEqual(foreign, [], 'modules of other commands loaded by serve');
    const policy = await run('policy', '--help');
    assert.ok(policy.includes('src/cli/policy.ts') && !policy.includes('src/cli/serve.ts'), 'policy alone');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
