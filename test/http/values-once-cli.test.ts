/**
 * `--values` files are read once and helm renders that copy (src/adapters/chart-settings.ts
 * withValuesCopies): the class "what the runner checks is not what the tool reads" for helm, as
 * policy-snapshot-cli.test.ts is for opa. Before (00105c8) the runner checked a values file, then
 * helm read the path again: a file swapped in between was rendered unchecked, and a pipe could not
 * be given at all (it would be read empty the second time), so `--values <(sops -d v.yaml)` was
 * refused. The first two rows fail on 00105c8.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../../src/adapters/tools.ts';

const CLI = join(REPO_ROOT, 'bin', 'kubiya-runner.js');
const STEP = join(REPO_ROOT, 'examples', 'node-build.yaml');
let work = '';
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'kubiya-vcli-'));
});
after(async () => rm(work, { recursive: true, force: true }));

/** Runs the CLI through bash, with `$1` given as `<(cat FILE)`: a pipe, read once. */
async function withPipe(args: string, file: string): Promise<{ code: number; out: string }> {
  const script = `exec "$0" "$1" ${args}`;
  return promisify(execFile)('bash', ['-c', script.replace('PIPE', '<(cat "$2")'), process.execPath, CLI, file], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '' },
    timeout: 60_000,
  }).then(
    (r) => ({ code: 0, out: `${r.stdout}${r.stderr}` }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: `${e.stdout}${e.stderr}` }),
  );
}

test('policy eval --values <(cat values.yaml): the settings the pipe gives decide (a pipe is read once, helm renders that)', async () => {
  const values = join(work, 'registries.yaml');
  await writeFile(values, 'policy:\n  settings:\n    images:\n      allowedRegistries: ["ghcr.io"]\n');
  const r = await withPipe(`policy eval ${STEP} --values PIPE`, values);
  assert.equal(r.code, 1, r.out);
  assert.match(r.out, /IMAGE_REGISTRY_NOT_ALLOWED/);
  assert.match(r.out, /settings: chart values \/dev\/fd\/\d+/);
});

test('policy build --values <(cat v.yaml) with a private key in policy.verificationKeys → POLICY_KEY_PRIVATE, the key never shown', async () => {
  const { privateKey } = generateKeyPairSync('ed25519');
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const values = join(work, 'leaky.yaml');
  await writeFile(values, `policy:\n  verificationKeys:\n    - |\n${pem.replace(/^/gm, '      ')}`);
  const r = await withPipe(`policy build --values PIPE --out ${join(work, 'b.tgz')}`, values);
  assert.equal(r.code, 2, r.out);
  assert.match(r.out, /POLICY_KEY_PRIVATE/);
  assert.match(r.out, /\/dev\/fd\/\d+: policy\.verificationKeys\[0\]/);
  const body = pem.split('\n')[1]!;
  assert.ok(!r.out.includes(body), 'no key bytes in the output');
});

test("helm's message names the values file given, never the private copy", async () => {
  const values = join(work, 'broken.yaml');
  await writeFile(values, 'policy:\n  settings: [\n');
  const r = await promisify(execFile)(process.execPath, [CLI, 'policy', 'eval', STEP, '--values', values], {
    cwd: REPO_ROOT,
    timeout: 60_000,
  }).then(
    () => ({ code: 0, out: '' }),
    (e: { code: number; stderr: string }) => ({ code: e.code, out: e.stderr }),
  );
  assert.equal(r.code, 2, r.out);
  assert.match(r.out, /CONFIG_INVALID/);
  assert.ok(r.out.includes(values), r.out);
  assert.doesNotMatch(r.out, /kubiya-values-|values-0\.yaml/);
});
