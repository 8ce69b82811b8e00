import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../../src/adapters/tools.ts';

const run = promisify(execFile);

test('serve with a bad config exits 2 before listening and prints every problem with its path', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kubiya-badconfig-'));
  try {
    const file = join(dir, 'runner.yaml');
    await writeFile(
      file,
      'runner:\n  name: Bad_Name\n  token: s3cret\n  workflow: { defaultTimeout: soon }\n  extra: 1\ncontrolPlane: { issuer: x }\npolicy: {}\naudit: { dir: /tmp }\nserver: { port: 8080 }\n',
    );
    const result = await run(
      process.execPath,
      [join(REPO_ROOT, 'bin', 'kubiya-runner.js'), 'serve', '--config', file],
      { timeout: 20_000, env: { PATH: process.env.PATH ?? '' } },
    ).then(
      () => ({ code: 0, stderr: '', stdout: '' }),
      (e: { code: number; stderr: string; stdout: string }) => e,
    );
    assert.equal(result.code, 2);
    assert.equal(result.stdout, '', 'nothing logged: it never started');
    for (const path of [
      'runner.name',
      'runner.workflow.defaultTimeout',
      'runner:',
      'controlPlane.jwksFile',
      'policy.bundle',
    ])
      assert.ok(result.stderr.includes(path), `${path} in:\n${result.stderr}`);
    assert.match(result.stderr, /^CONFIG_INVALID/);
    assert.ok(!result.stderr.includes('s3cret'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('serve whose policy bundle is missing exits 2 with STARTUP_FAILED, before listening', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kubiya-startup-'));
  try {
    const file = join(dir, 'runner.yaml');
    await writeFile(
      join(dir, 'jwks.json'),
      JSON.stringify({
        keys: [{ kty: 'OKP', crv: 'Ed25519', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo', kid: 'k' }],
      }),
    );
    await writeFile(
      join(dir, 'kubeconfig'),
      'apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n',
    );
    await writeFile(
      file,
      `runner: { name: r }\ncontrolPlane: { issuer: x, jwksFile: ${join(dir, 'jwks.json')} }\npolicy: { bundle: ${join(dir, 'missing.tar.gz')} }\naudit: { dir: ${join(dir, 'audit')} }\nkubernetes: { kubeconfig: ${join(dir, 'kubeconfig')} }\nserver: { port: 0, host: 127.0.0.1 }\n`,
    );
    const result = await run(
      process.execPath,
      [join(REPO_ROOT, 'bin', 'kubiya-runner.js'), 'serve', '--config', file],
      { timeout: 20_000, env: { PATH: process.env.PATH ?? '' } },
    ).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code: number; stderr: string }) => e,
    );
    assert.equal(result.code, 2);
    assert.match(result.stderr, /STARTUP_FAILED: .*missing\.tar\.gz/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
