import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { ChartRenderError, RUNNER_CHART, renderBakedSettings } from '../../src/adapters/chart-settings.ts';
import { REPO_ROOT } from '../../src/adapters/tools.ts';

/**
 * Red team 20, findings 1 and 8 (and red team 18 F9/F10, red team 19 F1/F6 before them). The
 * class: **the values check of `policy build --values` reads the values file differently from
 * helm**, the reader that matters. Every variant here is a form of key material × a YAML feature
 * × a placement, and helm itself is the oracle: where `helm template charts/kubiya-runner -f F`
 * refuses a private key, renderBakedSettings (what `policy build --values` runs) must refuse F with
 * POLICY_KEY_PRIVATE, never echoing the key; every variant that holds a private key is refused so,
 * also beside a value the chart refuses first and the bake overrides empty (`policy.service.url`
 * with user:password@: finding 1's second example); and a public key in the same shapes is taken
 * exactly when helm takes it. On c88f5c3 the JWK-mapping and merge-order rows fail (the build
 * succeeds), and the 120-alias row fails with CONFIG_INVALID "Excessive alias count".
 * Aliases are bounded by what they expand to, not by how many there are: at most the 8 MiB a
 * values file may hold, checked before helm runs.
 */
const helm = join(REPO_ROOT, '.tools', 'bin', 'helm');
let work = '';
let n = 0;
/** How many variants helm's own chart render refused as a private key: the oracle is not vacuous. */
let helmFoundPrivate = 0;
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'kubiya-keyforms-'));
});
after(async () => rm(work, { recursive: true, force: true }));

const ed = generateKeyPairSync('ed25519');
const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const pkcs8 = ed.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
const spki = ed.publicKey.export({ type: 'spki', format: 'pem' }) as string;
const jwk = ed.privateKey.export({ format: 'jwk' }) as Record<string, string>;

/** Private key material in every form the chart or the runner could take it. */
const PRIVATE_FORMS: Record<string, unknown> = {
  'PKCS#8 PEM': pkcs8,
  'encrypted PKCS#8': ec.privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'x' }),
  'SEC1 EC PRIVATE KEY': ec.privateKey.export({ type: 'sec1', format: 'pem' }),
  'PEM with CRLF': pkcs8.replaceAll('\n', '\r\n'),
  'PEM with leading spaces': pkcs8.replace(/^/gm, '  '),
  'a public block, then the private one': `${spki}${pkcs8}`,
  'PEM inside a longer text': `our key:\n${pkcs8}(rotate yearly)\n`,
  'a PKCS#8 body under BEGIN PUBLIC KEY': pkcs8.replaceAll('PRIVATE', 'PUBLIC'),
  'base64 of the PEM': Buffer.from(pkcs8).toString('base64'),
  'JWK as a JSON string': JSON.stringify(jwk),
  'JWKS as a JSON string': JSON.stringify({ keys: [jwk] }),
  'oct JWK as a JSON string': JSON.stringify({ kty: 'oct', k: 'c2VjcmV0LXNlY3JldC1zZWNyZXQ' }),
  'JWK as a mapping': jwk,
  'JWKS as a mapping': { keys: [jwk] },
};

/** How one list item is written (`indent`: the column of its `-`); undefined: not for this value. */
type Encoding = (v: unknown, indent: number) => string | undefined;
const pad = (indent: number): string => ' '.repeat(indent);
const ENCODINGS: Record<string, Encoding> = {
  'double-quoted / flow JSON': (v, i) => `${pad(i)}- ${JSON.stringify(v)}\n`,
  '!!str tag': (v, i) => (typeof v === 'string' ? `${pad(i)}- !!str ${JSON.stringify(v)}\n` : undefined),
  'literal block': (v, i) =>
    typeof v === 'string' && !v.includes('\r') && !v.startsWith(' ')
      ? `${pad(i)}- |${v.endsWith('\n') ? '' : '-'}\n${v.replace(/\n$/, '').replace(/^/gm, pad(i + 4))}\n`
      : undefined,
  '!!binary': (v, i) =>
    typeof v === 'string' ? `${pad(i)}- !!binary ${Buffer.from(v).toString('base64')}\n` : undefined,
  'block mapping': (v, i) =>
    typeof v === 'object'
      ? `${pad(i)}-\n${stringify(v)
          .trimEnd()
          .replace(/^/gm, pad(i + 2))}\n`
      : undefined,
};

/** Where the item lands: a file built around `items(indent)` (helm reads the item in some, only the file holds it in others). */
interface Placement {
  readonly text: (items: (indent: number) => string) => string;
}
const PUB = JSON.stringify(spki);
const PLACEMENTS: Record<string, Placement> = {
  'a block list': { text: (it) => `policy:\n  verificationKeys:\n${it(4)}` },
  'an anchored item and its alias': {
    text: (it) => `policy:\n  verificationKeys:\n${it(4).replace(/^( *)-/, '$1- &k')}    - *k\n`,
  },
  'a merge key after the public list (go-yaml takes the merged one)': {
    text: (it) => `policy:\n  verificationKeys: [${PUB}]\n  <<:\n    verificationKeys:\n${it(6)}`,
  },
  'a merge key before the public list': {
    text: (it) => `policy:\n  <<:\n    verificationKeys:\n${it(6)}  verificationKeys: [${PUB}]\n`,
  },
  'an anchored merge source': {
    text: (it) => `policy:\n  <<: &m\n    verificationKeys:\n${it(6)}`,
  },
  'a list of merges': {
    text: (it) => `policy:\n  <<:\n    - {bundleConfigMap: ""}\n    - verificationKeys:\n${it(8)}`,
  },
  'a merge key at the top': { text: (it) => `<<:\n  policy:\n    verificationKeys:\n${it(6)}` },
  'a duplicate key, the key in the first': {
    text: (it) => `policy:\n  verificationKeys:\n${it(4)}  verificationKeys: [${PUB}]\n`,
  },
  'a second document': {
    text: (it) => `policy:\n  verificationKeys: [${PUB}]\n---\npolicy:\n  verificationKeys:\n${it(4)}`,
  },
  'comments between': {
    text: (it) => `# values\npolicy: # the policy\n  # keys\n  verificationKeys: # list\n${it(4)}  # end\n`,
  },
};

/** The same files with CRLF line ends, or with a value the chart refuses before the keys (and the bake overrides empty). */
const MODIFIERS: Record<string, (text: string) => string> = {
  none: (t) => t,
  CRLF: (t) => t.replaceAll('\n', '\r\n'),
  'policy.service.url with user:password@': (t) =>
    t.replace(/^policy:( #.*)?\n/m, (m) => `${m}  service:\n    url: "https://user:pw@bundles.example"\n`),
};

interface Outcome {
  readonly code: string;
  readonly said: string;
}
async function ours(text: string): Promise<Outcome> {
  const file = join(work, `v-${n++}.yaml`);
  await writeFile(file, text);
  return renderBakedSettings(helm, [file]).then(
    () => ({ code: 'built', said: '' }),
    (e: unknown) => ({ code: e instanceof ChartRenderError ? e.code : 'THROWN', said: String(e) }),
  );
}
/** helm's own render of the chart (with a bundle source, so keys alone are not refused): 'PRIVATE', 'refused' or 'ok'. */
async function helmSays(text: string): Promise<'PRIVATE' | 'refused' | 'ok'> {
  const file = join(work, `h-${n++}.yaml`);
  await writeFile(file, text);
  const args = ['template', 'r', RUNNER_CHART, '--kube-version', '1.37.2', '--set-string', 'runner.token=t'];
  args.push('--set-string', 'policy.bundleConfigMap=b', '-f', file);
  return promisify(execFile)(helm, args, { maxBuffer: 64 * 1024 * 1024 }).then(
    () => 'ok' as const,
    (e: { stderr: string }) => (/holds a PRIVATE key/.test(e.stderr) ? ('PRIVATE' as const) : ('refused' as const)),
  );
}

/** Every 16 characters of the key's secret parts: none may be in a message. */
const secrets = [
  ...pkcs8
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('-----'))
    .map((l) => l.slice(0, 16)),
  jwk.d!.slice(0, 16),
];

async function checkPrivate(form: string, enc: string, placement: string, modifier: string): Promise<void> {
  const item = (i: number): string => ENCODINGS[enc]!(PRIVATE_FORMS[form], i)!;
  const plain = PLACEMENTS[placement]!.text(item);
  const text = MODIFIERS[modifier]!(plain);
  const [got, oracle] = await Promise.all([ours(text), helmSays(plain)]);
  if (oracle === 'PRIVATE') helmFoundPrivate++;
  const row = `${form} × ${enc} × ${placement} × ${modifier}: ours ${got.code}, helm ${oracle}\n${text}`;
  if (oracle === 'PRIVATE') assert.equal(got.code, 'POLICY_KEY_PRIVATE', row);
  // Stronger than the oracle: every private form is refused as one, wherever the file holds it.
  assert.equal(got.code, 'POLICY_KEY_PRIVATE', row);
  for (const s of secrets) assert.ok(!got.said.includes(s), `key material in the message: ${row}`);
}

const applicable = (form: string, enc: string): boolean => ENCODINGS[enc]!(PRIVATE_FORMS[form], 0) !== undefined;

test('every private form × every encoding, in a block list: refused as POLICY_KEY_PRIVATE, as helm refuses it', async () => {
  for (const form of Object.keys(PRIVATE_FORMS))
    for (const enc of Object.keys(ENCODINGS))
      if (applicable(form, enc)) await checkPrivate(form, enc, 'a block list', 'none');
  assert.ok(helmFoundPrivate >= 20, `helm refused ${helmFoundPrivate} variants as private keys`);
});

test('every placement × modifier, a PEM and a JWK mapping: refused as POLICY_KEY_PRIVATE (helm the oracle)', async () => {
  for (const placement of Object.keys(PLACEMENTS))
    for (const modifier of Object.keys(MODIFIERS))
      for (const [form, enc] of [
        ['PKCS#8 PEM', 'double-quoted / flow JSON'],
        ['JWK as a mapping', 'block mapping'],
      ] as const)
        await checkPrivate(form, enc, placement, modifier);
});

test('random form × encoding × placement × modifier (fast-check): refused as POLICY_KEY_PRIVATE', async () => {
  const pairs = Object.keys(PRIVATE_FORMS).flatMap((f) =>
    Object.keys(ENCODINGS)
      .filter((e) => applicable(f, e))
      .map((e) => [f, e] as const),
  );
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...pairs),
      fc.constantFrom(...Object.keys(PLACEMENTS)),
      fc.constantFrom(...Object.keys(MODIFIERS)),
      async ([form, enc], placement, modifier) => checkPrivate(form, enc, placement, modifier),
    ),
    { numRuns: 25 },
  );
});

test('a public key in every placement and encoding: built exactly when helm renders it, not stricter', async () => {
  const rows = [
    ...Object.keys(PLACEMENTS).map((p) => [p, 'double-quoted / flow JSON'] as const),
    ...['!!str tag', 'literal block', '!!binary'].map((e) => ['a block list', e] as const),
    ['a merge key after the public list (go-yaml takes the merged one)', 'literal block'] as const,
  ];
  for (const [placement, enc] of rows) {
    const text = PLACEMENTS[placement]!.text((i) => ENCODINGS[enc]!(spki, i)!);
    const [got, oracle] = await Promise.all([ours(text), helmSays(text)]);
    assert.equal(
      got.code === 'built',
      oracle === 'ok',
      `${placement} × ${enc}: ours ${got.code}, helm ${oracle}\n${text}`,
    );
  }
});

test('red team 20, finding 8: 120 aliases of one anchor build; aliases that expand the file past 8 MiB are refused before helm reads them', async () => {
  const aliases = `policy:\n  settings:\n    images:\n      deniedImages: [&r docker.io/library/evil]\n    privilege:\n      allowedSysctls:\n${'        - *r\n'.repeat(120)}`;
  assert.equal(await helmSays(aliases), 'ok');
  assert.equal((await ours(aliases)).code, 'built');
  const letters = 'abcdefghijklm';
  let bomb = 'a: &a ["x","x","x","x","x","x","x","x","x"]\n';
  for (let i = 1; i < letters.length; i++)
    bomb += `${letters[i]}: &${letters[i]} [${Array(9)
      .fill(`*${letters[i - 1]}`)
      .join(',')}]\n`;
  const got = await ours(bomb);
  assert.equal(got.code, 'CONFIG_INVALID');
  assert.match(got.said, /cannot be read as YAML: its aliases expand it past 8 MiB/);
  // Few aliases of a long value: go-yaml's ratio bound lets it through (100 of a 4 MiB string took
  // helm minutes and gigabytes); the expansion is bounded by the size a file may have.
  const wide = `policy:\n  settings:\n    images:\n      deniedImages: [&r "${'x'.repeat(200_000)}"]\n    privilege:\n      allowedSysctls: [${Array(50).fill('*r').join(', ')}]\n`;
  const refused = await ours(wide);
  assert.equal(refused.code, 'CONFIG_INVALID');
  assert.match(refused.said, /its aliases expand it past 8 MiB/);
});

test('red team 20, finding 1: a file the chart refuses for a value the bake overrides empty is not built', async () => {
  const got = await ours(`policy:\n  service:\n    url: "https://user:pw@bundles.example"\n`);
  assert.equal(got.code, 'CONFIG_INVALID');
  assert.match(got.said, /policy\.service\.url has user:password@/);
  assert.doesNotMatch(got.said, /user:pw/);
  const keysOnly = await ours(
    `policy:\n  verificationKeys: [${PUB}]\n  settings:\n    images:\n      deniedImages: [x]\n`,
  );
  assert.equal(keysOnly.code, 'built', keysOnly.said);
});
