import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { stringify } from 'yaml';
import { REPO_ROOT } from '../../src/adapters/tools.ts';
import { main } from '../../src/cli/main.ts';

/**
 * Red-team 2026-11-30 round 3, findings 5 and 10. The class: **what `--values` tests is not what
 * the runner installed with those values runs** — here, the `policy.verificationKeys` the values
 * render. A runner with keys refuses an unsigned or wrongly signed bundle; `policy eval|replay|test
 * --values prod.yaml` must refuse it too, or a CI gate is green for a bundle production refuses.
 *
 * | case (values render keys K)                          | eval / replay / test                          |
 * |------------------------------------------------------|-----------------------------------------------|
 * | --bundle unsigned (the reported example)             | POLICY_BUNDLE_UNSIGNED, exit 1                 |
 * | --bundle signed with another key                     | POLICY_BUNDLE_SIGNATURE_INVALID, exit 1        |
 * | no --bundle (built now: unsigned)                    | POLICY_BUNDLE_UNSIGNED, exit 1                 |
 * | --bundle signed with K                               | decided (exit 0)                               |
 * | + --verification-key K (same set)                    | decided                                        |
 * | + --verification-key other (not the same set)       | CONFIG_INVALID, exit 2 (the runner uses K only)|
 * | K holds a private key (eval)                         | POLICY_KEY_PRIVATE (chart refuses, key not echoed) |
 * | `policy build --values` with a private key (finding 10) | POLICY_KEY_PRIVATE, nothing built, key not echoed |
 */
let work: string;
const step = join(REPO_ROOT, 'examples', 'python-analyze.yaml');
const pem = (k: KeyObject, type: 'spki' | 'pkcs8' | 'pkcs1'): string => k.export({ type, format: 'pem' }) as string;
const pair = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const other = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const f = (name: string): string => join(work, name);

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (l) => out.push(l), err: (l) => err.push(l), color: false }, {});
  return { code, out: out.join('\n'), err: err.join('\n') };
}
const values = (keys: string[]): string =>
  stringify({ runner: { name: 'r1' }, policy: { bundleConfigMap: 'bcm', verificationKeys: keys } });

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'kubiya-values-keys-'));
  await mkdir(f('audit'));
  await writeFile(f('sign.pem'), pem(pair.privateKey, 'pkcs8'));
  await writeFile(f('other-sign.pem'), pem(other.privateKey, 'pkcs8'));
  await writeFile(f('verify.pem'), pem(pair.publicKey, 'spki'));
  await writeFile(f('other.pem'), pem(other.publicKey, 'spki'));
  await writeFile(f('v-keys.yaml'), values([pem(pair.publicKey, 'spki')]));
  await writeFile(f('v-priv.yaml'), values([pem(rsa.privateKey, 'pkcs1')]));
  await writeFile(f('v-priv8.yaml'), values([pem(pair.publicKey, 'spki'), pem(pair.privateKey, 'pkcs8')]));
  const policies = join(REPO_ROOT, 'policies');
  for (const [out, key] of [
    ['signed.tar.gz', 'sign.pem'],
    ['other-signed.tar.gz', 'other-sign.pem'],
  ] as const) {
    const built = await cli('policy', 'build', '--policies', policies, '--out', f(out), '--signing-key', f(key));
    assert.equal(built.code, 0, built.err);
  }
  const unsigned = await cli('policy', 'build', '--policies', policies, '--out', f('unsigned.tar.gz'));
  assert.equal(unsigned.code, 0, unsigned.err);
});
after(async () => rm(work, { recursive: true, force: true }));

/** The three commands that take --values, each with the rest of its arguments. */
const COMMANDS: Record<string, (bundle: string[]) => string[]> = {
  eval: (b) => ['policy', 'eval', step, ...b],
  replay: (b) => ['policy', 'replay', '--audit', f('audit'), ...b],
  test: (b) => ['policy', 'test', ...b],
};

test('eval|replay|test --values verify the bundle with the keys the values render (finding 5)', async () => {
  for (const [name, argv] of Object.entries(COMMANDS)) {
    const withValues = (...rest: string[]) => cli(...argv(rest), '--values', f('v-keys.yaml'));
    const unsigned = await withValues('--bundle', f('unsigned.tar.gz'));
    assert.equal(unsigned.code, 1, `${name} unsigned: ${unsigned.out}`);
    assert.match(unsigned.err, /^POLICY_BUNDLE_UNSIGNED: /, name);
    const wrong = await withValues('--bundle', f('other-signed.tar.gz'));
    assert.equal(wrong.code, 1, `${name} other key`);
    assert.match(wrong.err, /^POLICY_BUNDLE_SIGNATURE_INVALID: /, name);
    const built = await withValues();
    assert.equal(built.code, 1, `${name} built now`);
    assert.match(built.err, /^POLICY_BUNDLE_UNSIGNED: .*give the signed candidate with --bundle/i, name);
    const signed = await withValues('--bundle', f('signed.tar.gz'));
    assert.equal(signed.code, 0, `${name} signed: ${signed.err}`);
  }
});

test('--verification-key beside --values keys: the same set decides, another set is refused', async () => {
  const run = (...keys: string[]) =>
    cli(
      ...['policy', 'eval', step, '--bundle', f('signed.tar.gz'), '--values', f('v-keys.yaml')],
      ...['--verification-key', ...keys],
    );
  const same = await run(f('verify.pem'));
  assert.equal(same.code, 0, same.err);
  for (const keys of [[f('other.pem')], [f('verify.pem'), f('other.pem')]]) {
    const mismatch = await run(...keys);
    assert.equal(mismatch.code, 2, keys.join(' '));
    assert.match(mismatch.err, /^CONFIG_INVALID: --verification-key and the policy\.verificationKeys .* not the same/);
  }
  // The reported example without --values still decides as before (no keys rendered: none used).
  const plain = await cli('policy', 'eval', step, '--bundle', f('unsigned.tar.gz'));
  assert.equal(plain.code, 0, plain.err);
});

test('a private key in the values: eval and build refuse POLICY_KEY_PRIVATE and never print it (findings 2, 10)', async () => {
  const secrets = [pem(rsa.privateKey, 'pkcs1'), pem(pair.privateKey, 'pkcs8')].map((p) => p.split('\n')[1]!);
  for (const file of ['v-priv.yaml', 'v-priv8.yaml']) {
    const built = await cli('policy', 'build', '--out', f(`b-${file}.tar.gz`), '--values', f(file));
    const evaluated = await cli('policy', 'eval', step, '--bundle', f('signed.tar.gz'), '--values', f(file));
    for (const [name, r] of [
      ['build', built],
      ['eval', evaluated],
    ] as const) {
      assert.equal(r.code, 2, `${name} ${file}: ${r.out}`);
      assert.match(
        r.err,
        /^POLICY_KEY_PRIVATE: .*policy\.verificationKeys\[\d\] holds a PRIVATE key/,
        `${name} ${file}`,
      );
      for (const s of secrets) assert.ok(!`${r.out}${r.err}`.includes(s.slice(0, 32)), `${name} ${file} echoed key`);
    }
  }
});
