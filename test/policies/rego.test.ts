import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { REPO_ROOT, resolveTools } from '../../src/adapters/tools.ts';

const run = promisify(execFile);
const tools = resolveTools(['opa', 'regal']);
if (!tools.ok) throw new Error(tools.error.message);
const policies = join(REPO_ROOT, 'policies');

test('opa test: every Rego unit test passes with at least 90 % coverage', async () => {
  const { stdout } = await run(tools.value.opa, ['test', policies, '--coverage', '--threshold', '90', '--format', 'json'], { maxBuffer: 64 * 1024 * 1024 });
  const report = JSON.parse(stdout) as { coverage: number };
  assert.ok(report.coverage >= 90, `coverage ${report.coverage}`);
  const plain = await run(tools.value.opa, ['test', policies]);
  assert.match(plain.stdout, /PASS: \d+\/\d+/);
});

test('opa fmt: the policies are formatted', async () => {
  const { stdout } = await run(tools.value.opa, ['fmt', '--list', policies]);
  assert.equal(stdout.trim(), '', `unformatted files:\n${stdout}`);
});

test('regal lint: no violations', async () => {
  await run(tools.value.regal, ['lint', '--config-file', join(REPO_ROOT, '.regal', 'config.yaml'), policies]);
});
