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
import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
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

/**
 * Red team 18, findings 9 and 10. Class: a check that reads a values file differently from helm,
 * and takes "cannot read" as "nothing to check". A duplicate key (helm keeps the last) made the
 * private-key check skip the whole file; an alias was refused by the check's parser (so skipped);
 * ill-formed UTF-8 was read as U+FFFD while helm refuses the file. Now every `policy` and
 * `verificationKeys` pair of the document is checked, aliases resolved, the copy holds the bytes
 * read, and a file the check cannot read is CONFIG_INVALID. Refusals come before opa runs.
 */
const PRIVATE_VALUES: [name: string, values: (pem: string) => string][] = [
  [
    'a duplicate `policy` key, the key in the last (helm renders it)',
    (pem) => `policy:\n  verificationKeys: []\npolicy:\n  verificationKeys:\n    - |\n${pem}`,
  ],
  [
    'a duplicate `policy` key, the key in the first (helm drops it; the file still holds it)',
    (pem) => `policy:\n  verificationKeys:\n    - |\n${pem}policy:\n  verificationKeys: []\n`,
  ],
  [
    'a duplicate `verificationKeys` key, the key in the first',
    (pem) => `policy:\n  verificationKeys:\n    - |\n${pem}  verificationKeys: []\n`,
  ],
  [
    'the key through an alias',
    (pem) => `runner:\n  name: r\npolicy:\n  verificationKeys:\n    - &k |\n${pem}    - *k\n`,
  ],
  ['flow style', (pem) => `policy: {verificationKeys: [${JSON.stringify(pem.replace(/^ {6}/gm, ''))}]}\n`],
];

for (const [name, values] of PRIVATE_VALUES)
  test(`policy build --values: ${name} → POLICY_KEY_PRIVATE, the key never shown`, async () => {
    const { privateKey } = generateKeyPairSync('ed25519');
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const file = join(work, `leaky-${name.length}.yaml`);
    await writeFile(file, values(pem.replace(/^/gm, '      ')));
    const r = await withPipe(`policy build --values "$2" --out ${join(work, 'never.tgz')}`, file);
    assert.equal(r.code, 2, r.out);
    assert.match(r.out, /^POLICY_KEY_PRIVATE: .*: policy\.verificationKeys\[\d\] holds a PRIVATE key/m);
    assert.ok(!r.out.includes(pem.split('\n')[1]!), 'no key bytes in the output');
  });

const UNREADABLE_VALUES: [name: string, bytes: Buffer, said: RegExp][] = [
  [
    'a Latin-1 byte',
    Buffer.from('# caf\xe9 settings\npolicy:\n  verificationKeys: []\n', 'latin1'),
    /is not UTF-8 \(byte 5\)/,
  ],
  [
    'a lone continuation byte after a U+FFFD spelled in UTF-8',
    Buffer.concat([Buffer.from('# \uFFFD ok\n#'), Buffer.from([0x80]), Buffer.from('\n')]),
    /is not UTF-8 \(byte 10\)/,
  ],
  ['YAML that does not parse', Buffer.from('policy:\n  verificationKeys: [\n'), /cannot be read as YAML/],
  [
    'an alias bomb',
    Buffer.from(
      `a: &a ["x","x","x","x","x","x","x","x","x"]\n${Array.from({ length: 12 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)}]`).join('\n')}\n`,
    ),
    /cannot be read as YAML/,
  ],
];

for (const [name, bytes, said] of UNREADABLE_VALUES)
  test(`policy build --values: ${name} → CONFIG_INVALID naming the file, nothing built`, async () => {
    const file = join(work, `unreadable-${name.length}.yaml`);
    await writeFile(file, bytes);
    const out = join(work, `unreadable-${name.length}.tgz`);
    const r = await withPipe(`policy build --values "$2" --out ${out}`, file);
    assert.equal(r.code, 2, r.out);
    assert.match(r.out, new RegExp(`^CONFIG_INVALID: --values ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} `, 'm'));
    assert.match(r.out, said);
  });

test('policy build --values: what helm accepts still builds (a duplicate key without a private key, UTF-8 text with é)', async () => {
  const file = join(work, 'dup-ok.yaml');
  await writeFile(file, '# café settings\npolicy:\n  verificationKeys: []\npolicy:\n  verificationKeys: []\n');
  const out = join(work, 'dup-ok.tgz');
  const r = await withPipe(`policy build --values "$2" --out ${out}`, file);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /^built /m);
});

/**
 * Red team 19, findings 1 and 6: helm reads values as YAML 1.1 — a `<<` merge key and `!!binary`
 * put a private key into `policy.verificationKeys` that the check (YAML 1.2) did not see — and
 * takes a file with a trailing `---` or a comment-only second document, which the check refused.
 * Now the check reads YAML 1.1 over every document, and helm's own reading of the values (a
 * render without the bake overrides, where the chart refuses a private key) comes first.
 */
const jwkOf = (pem: string): Record<string, string> =>
  createPrivateKey(pem).export({ format: 'jwk' }) as Record<string, string>;
const publicOf = (pem: string): string => createPublicKey(pem).export({ type: 'spki', format: 'pem' }).toString();
const YAML11_PRIVATE: [name: string, values: (pemLine: string, pem: string) => string][] = [
  ['a merge key inside `policy`', (line) => `policy:\n  <<: {verificationKeys: [${line}]}\n`],
  ['a merge key at the top', (line) => `<<: {policy: {verificationKeys: [${line}]}}\n`],
  [
    'a merge key beside settings to bake (which the chart refuses beside keys)',
    (line) => `policy:\n  <<: {verificationKeys: [${line}]}\n  settings:\n    images:\n      deniedImages: [x]\n`,
  ],
  ['`!!binary`', (_l, pem) => `policy:\n  verificationKeys: [!!binary ${Buffer.from(pem).toString('base64')}]\n`],
  ['in a second document', (line) => `policy:\n  verificationKeys: []\n---\npolicy:\n  verificationKeys: [${line}]\n`],
  // Red team 20, finding 1: a JWK pasted as a mapping (the check skipped non-strings), and go-yaml's
  // merge order (the `<<` after the public list wins in helm) beside a URL the chart refuses first.
  ['a JWK as a flow mapping', (_l, pem) => `policy:\n  verificationKeys: [${JSON.stringify(jwkOf(pem))}]\n`],
  [
    'a JWK as a block mapping',
    (_l, pem) =>
      `policy:\n  verificationKeys:\n    -${Object.entries(jwkOf(pem))
        .map(([k, v]) => ` ${k}: ${v}\n`)
        .join('     ')}`,
  ],
  [
    'a merge key after a public list, beside policy.service.url with user:password@',
    (line, pem) =>
      `policy:\n  verificationKeys: [${JSON.stringify(publicOf(pem))}]\n  <<: {verificationKeys: [${line}]}\n  service:\n    url: "https://user:pw@bundles.example"\n`,
  ],
];
for (const [name, values] of YAML11_PRIVATE)
  test(`policy build --values: a private key through ${name} → POLICY_KEY_PRIVATE, the key never shown`, async () => {
    const { privateKey } = generateKeyPairSync('ed25519');
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const file = join(work, `yaml11-${name.length}.yaml`);
    await writeFile(file, values(JSON.stringify(pem), pem));
    const r = await withPipe(`policy build --values "$2" --out ${join(work, 'never11.tgz')}`, file);
    assert.equal(r.code, 2, r.out);
    assert.match(r.out, /^POLICY_KEY_PRIVATE: /m);
    assert.ok(!r.out.includes(pem.split('\n')[1]!), 'no key bytes in the output');
  });

for (const [name, text] of [
  ['a trailing `---`', 'policy:\n  verificationKeys: []\n---\n'],
  ['a second document holding only a comment', 'policy:\n  verificationKeys: []\n---\n# nothing here\n'],
] as const)
  test(`policy build --values: ${name}, which helm takes, builds`, async () => {
    const file = join(work, `multi-${name.length}.yaml`);
    await writeFile(file, text);
    const r = await withPipe(`policy build --values "$2" --out ${join(work, `multi-${name.length}.tgz`)}`, file);
    assert.equal(r.code, 0, r.out);
  });

test('policy build --values: 120 aliases of one anchor, which helm reads, build (red team 20, finding 8)', async () => {
  const file = join(work, 'aliases.yaml');
  await writeFile(
    file,
    `policy:\n  settings:\n    images:\n      deniedImages: [&r docker.io/library/evil]\n    privilege:\n      allowedSysctls:\n${'        - *r\n'.repeat(120)}`,
  );
  const r = await withPipe(`policy build --values "$2" --out ${join(work, 'aliases.tgz')}`, file);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /^built /m);
});
