import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../../src/adapters/tools.ts';

const run = promisify(execFile);

/**
 * `policy eval` judges the pod `serve` would build with its default configuration: every container
 * kind gets `runner.workflow.defaultResources` for what it leaves out (SECURITY.md "Every container
 * is bounded"). Before, eval built pods without those defaults, so the seed's init-container
 * example was "denied" (RESOURCES_REQUEST_MISSING on initContainers[0]) by eval while a runner
 * with the default config would allow it: eval and serve disagreed on the same file.
 */
test('policy eval applies the default resources serve applies (init container without resources)', async () => {
  const env = {
    ...process.env,
    PATH: `${join(REPO_ROOT, 'node_modules', '.bin')}:${process.env.PATH ?? ''}`,
    NO_COLOR: '1',
  };
  const r = await run(
    process.execPath,
    [
      join(REPO_ROOT, 'bin', 'kubiya-runner.js'),
      'policy',
      'eval',
      join(REPO_ROOT, 'examples', 'process-with-init.yaml'),
      '--output',
      'json',
    ],
    { cwd: REPO_ROOT, env, maxBuffer: 16 * 1024 * 1024 },
  ).then(
    (o) => ({ code: 0, stdout: o.stdout }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: `${e.stdout}${e.stderr}` }),
  );
  assert.equal(r.code, 0, r.stdout);
  const out = JSON.parse(r.stdout) as { steps: { allow: boolean; decision?: { violations: { code: string }[] } }[] };
  assert.ok(
    out.steps.every((s) => s.allow),
    r.stdout,
  );
  assert.ok(
    out.steps.every((s) => !(s.decision?.violations ?? []).some((v) => v.code.startsWith('RESOURCES_'))),
    r.stdout,
  );
});
