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

test('opa test: every Rego unit test passes, with at least 90 % coverage in every package', async () => {
  const { stdout } = await run(tools.value.opa, ['test', policies, '--coverage', '--format', 'json'], {
    maxBuffer: 64 * 1024 * 1024,
  });
  const report = JSON.parse(stdout) as { coverage: number; files: Record<string, { coverage: number }> };
  const packages = Object.entries(report.files).filter(([f]) => !f.endsWith('_test.rego'));
  assert.ok(packages.length >= 7, 'images, privilege, resources, egress, secrets, volumes, main (+ lib)');
  for (const [file, { coverage }] of packages) assert.ok(coverage >= 90, `${file}: ${coverage} %`);
  const plain = await run(tools.value.opa, ['test', policies]);
  assert.match(plain.stdout, /PASS: \d+\/\d+/);
});

test('opa fmt: the policies are formatted', async () => {
  const { stdout } = await run(tools.value.opa, ['fmt', '--list', policies]);
  assert.equal(stdout.trim(), '', `unformatted files:\n${stdout}`);
});

test('opa check --strict: no errors', async () => {
  await run(tools.value.opa, ['check', '--strict', policies]);
});

test('every Rego file has its _test.rego beside it', async () => {
  const { readdir } = await import('node:fs/promises');
  const files = (await readdir(policies, { recursive: true })).filter((f) => f.endsWith('.rego'));
  const modules = files.filter((f) => !f.endsWith('_test.rego'));
  assert.ok(modules.length >= 8);
  for (const m of modules) assert.ok(files.includes(m.replace(/\.rego$/, '_test.rego')), `${m} has no test`);
});

test('regal lint: no violations', async () => {
  await run(tools.value.regal, ['lint', '--config-file', join(REPO_ROOT, '.regal', 'config.yaml'), policies]);
});
