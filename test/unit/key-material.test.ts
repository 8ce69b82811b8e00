import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { policyVerificationKeys } from '../../src/adapters/policy-keys.ts';
import { REPO_ROOT } from '../../src/adapters/tools.ts';
import { main } from '../../src/cli/main.ts';
import { holdsPrivateKey, maskKeyMaterial, valueHoldsPrivateKey } from '../../src/policy/key-material.ts';

/**
 * Red-team 2026-11-30, finding 6. The class: **private key material where a public key belongs,
 * and key material echoed back to the user**. Node's createPublicKey derives the public half of a
 * private key, so a PRIVATE key given as a verification key worked — and sat in a ConfigMap; helm's
 * schema error printed it whole. Variants: every private encoding Node and OpenSSL write (PKCS#8,
 * encrypted PKCS#8, SEC1 `EC PRIVATE KEY`, PKCS#1 `RSA PRIVATE KEY`; EC P-256/P-384, Ed25519, RSA),
 * a private block after a public one, CRLF line ends, JWKs with a private member (EC/OKP `d`, RSA
 * `d p q dp dq qi`, oct `k`) alone or in a JWKS; each refused with POLICY_KEY_PRIVATE by the key
 * reader (runner config and `--verification-key`) without any of its content in the message; and
 * every such key, embedded in arbitrary text (raw, with line breaks escaped as Go's %q does, as a
 * JSON string) is masked by maskKeyMaterial.
 */
interface Variant {
  readonly name: string;
  readonly text: string;
}

const pairs: Record<string, { privateKey: KeyObject; publicKey: KeyObject }> = {
  'EC P-256': generateKeyPairSync('ec', { namedCurve: 'prime256v1' }),
  'EC P-384': generateKeyPairSync('ec', { namedCurve: 'secp384r1' }),
  Ed25519: generateKeyPairSync('ed25519'),
  RSA: generateKeyPairSync('rsa', { modulusLength: 2048 }),
};

function privateVariants(): Variant[] {
  const out: Variant[] = [];
  for (const [name, { privateKey, publicKey }] of Object.entries(pairs)) {
    const pkcs8 = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    const spki = publicKey.export({ type: 'spki', format: 'pem' }) as string;
    out.push({ name: `${name} PKCS#8`, text: pkcs8 });
    out.push({
      name: `${name} encrypted PKCS#8`,
      text: privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'x' }) as string,
    });
    out.push({ name: `${name} private after public`, text: `${spki}${pkcs8}` });
    out.push({ name: `${name} CRLF`, text: pkcs8.replaceAll('\n', '\r\n') });
    out.push({ name: `${name} JWK`, text: JSON.stringify(privateKey.export({ format: 'jwk' })) });
    out.push({ name: `${name} in a JWKS`, text: JSON.stringify({ keys: [privateKey.export({ format: 'jwk' })] }) });
    if (name.startsWith('EC'))
      out.push({ name: `${name} SEC1`, text: privateKey.export({ type: 'sec1', format: 'pem' }) as string });
    if (name === 'RSA')
      out.push({ name: 'RSA PKCS#1', text: privateKey.export({ type: 'pkcs1', format: 'pem' }) as string });
  }
  out.push({ name: 'oct JWK', text: JSON.stringify({ kty: 'oct', k: 'c2VjcmV0LXNlY3JldC1zZWNyZXQ' }) });
  out.push({
    name: 'OpenSSH',
    text: '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n',
  });
  return out;
}

const publicVariants = (): Variant[] =>
  Object.entries(pairs).flatMap(([name, { publicKey }]) => [
    { name: `${name} SPKI`, text: publicKey.export({ type: 'spki', format: 'pem' }) as string },
    { name: `${name} public JWK`, text: JSON.stringify(publicKey.export({ format: 'jwk' })) },
  ]);

/** Pieces of a key's content that must never appear in a message: every 16 characters of its base64 / JWK values. */
function secretPieces(text: string): string[] {
  const body = text
    .split(/\r?\n/)
    .filter((l) => !l.startsWith('-----') && !l.includes(':'))
    .join('');
  let values = body;
  try {
    const doc = JSON.parse(text) as Record<string, string | undefined> & {
      keys?: Record<string, string | undefined>[];
    };
    const keys = doc.keys ?? [doc];
    values = keys.flatMap((k) => ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'].map((m) => k[m] ?? '')).join('');
  } catch {
    // PEM
  }
  const out: string[] = [];
  for (let i = 0; i + 16 <= values.length; i += 16) out.push(values.slice(i, i + 16));
  return out;
}

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kubiya-keymat-'));
});
after(() => rm(dir, { recursive: true, force: true }));

test('holdsPrivateKey: every private encoding is recognised, no public one is', () => {
  const priv = privateVariants();
  assert.ok(priv.length >= 25, `${priv.length} variants`);
  for (const v of priv) assert.equal(holdsPrivateKey(v.text), true, v.name);
  for (const v of publicVariants()) assert.equal(holdsPrivateKey(v.text), false, v.name);
});

test('the key reader (runner config, --verification-key) refuses a private key with POLICY_KEY_PRIVATE, never printing it', async () => {
  for (const [i, v] of privateVariants().entries()) {
    const file = join(dir, `priv-${i}.pem`);
    await writeFile(file, v.text);
    const e = await policyVerificationKeys([file]).then(
      () => undefined,
      (x: unknown) => x as { code: string; message: string },
    );
    assert.equal(e?.code, 'POLICY_KEY_PRIVATE', v.name);
    for (const piece of secretPieces(v.text)) assert.ok(!e.message.includes(piece), `${v.name}: ${e.message}`);
  }
  const pub = join(dir, 'pub.pem');
  await writeFile(pub, pairs['EC P-256']!.publicKey.export({ type: 'spki', format: 'pem' }));
  assert.equal((await policyVerificationKeys([pub])).length, 1);
});

test('policy eval --verification-key <private key>: exit 2, POLICY_KEY_PRIVATE, the key not printed (the reported example)', async () => {
  const v = privateVariants()[0]!;
  const file = join(dir, 'signing.pem');
  await writeFile(file, v.text);
  const out: string[] = [];
  const err: string[] = [];
  const io = { out: (l: string) => out.push(l), err: (l: string) => err.push(l), color: false };
  const code = await main(
    [
      'policy',
      'eval',
      join(REPO_ROOT, 'examples', 'python-analyze.yaml'),
      '--bundle',
      join(dir, 'none.tar.gz'),
      '--verification-key',
      file,
    ],
    io,
    {},
  );
  assert.equal(code, 2);
  assert.match(err.join('\n'), /^POLICY_KEY_PRIVATE: /);
  for (const piece of secretPieces(v.text)) assert.ok(!`${out.join('')}${err.join('')}`.includes(piece));
});

test('maskKeyMaterial: no private key survives, embedded raw, Go-quoted or JSON-quoted in any text', () => {
  const keys = privateVariants();
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: keys.length - 1 }),
      fc.constantFrom<'raw' | 'go' | 'json'>('raw', 'go', 'json'),
      fc.string({ maxLength: 40 }),
      fc.string({ maxLength: 40 }),
      (i, quoting, before, after) => {
        const key = keys[i]!.text;
        const quoted = quoting === 'raw' ? key : quoting === 'json' ? JSON.stringify(key) : key.replaceAll('\n', '\\n');
        const masked = maskKeyMaterial(`${before}- at '/policy/verificationKeys/0': '${quoted}'${after}`);
        for (const piece of secretPieces(key)) if (masked.includes(piece)) return false;
        return true;
      },
    ),
    { numRuns: 300 },
  );
});

test('maskKeyMaterial keeps what a user needs: file paths with line numbers, labels, short identifiers', () => {
  const keep = [
    '/home/runner/work/my-org/my-repository/policies/kubiya/rules/timeouts/timeouts_test.rego:7: rego_parse_error',
    "at '/policy/service/url': 'ftp://x' does not match pattern",
    'IMAGE_TAG_NOT_PINNED STEP_TIMEOUT_MISSING kubiya.rules.timeouts',
  ];
  for (const text of keep) assert.equal(maskKeyMaterial(text), text);
  assert.match(
    maskKeyMaterial('-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----'),
    /^-----BEGIN PUBLIC KEY----- \[masked\] -----END PUBLIC KEY-----$/,
  );
});

/**
 * Red team 20, finding 1: a `policy.verificationKeys` entry as helm reads it may be any JSON value
 * (a JWK pasted as a mapping), and the chart takes forms holdsPrivateKey alone misses. Each
 * private variant is found as a string, as base64 of it, inside a mapping or list, and (JWKs) as
 * the mapping itself; a PKCS#8 body under `BEGIN PUBLIC KEY` (which the chart's pattern takes) is
 * found; no public variant, in any of these shapes, is.
 */
test('valueHoldsPrivateKey: every private variant in every shape an entry takes; no public one', () => {
  const shapes = (text: string): unknown[] => {
    const out: unknown[] = [text, Buffer.from(text).toString('base64'), { note: text }, [1, [text]]];
    try {
      out.push(JSON.parse(text) as unknown);
    } catch {
      // not JSON: a PEM text
    }
    return out;
  };
  for (const v of privateVariants())
    for (const [i, shape] of shapes(v.text).entries())
      assert.equal(valueHoldsPrivateKey(shape), true, `${v.name} #${i}`);
  for (const v of publicVariants())
    for (const [i, shape] of shapes(v.text).entries())
      assert.equal(valueHoldsPrivateKey(shape), false, `${v.name} #${i}`);
  const pkcs8 = privateVariants()[0]!.text;
  assert.equal(
    valueHoldsPrivateKey(pkcs8.replaceAll('PRIVATE', 'PUBLIC')),
    true,
    'a PKCS#8 body under BEGIN PUBLIC KEY',
  );
  assert.equal(valueHoldsPrivateKey({ '"d": "x"': 1 }), true, 'a mapping key the chart pattern matches');
  for (const harmless of [null, 3, true, {}, [], 'ssh-ed25519 AAAA', 'aGVsbG8gd29ybGQgaGVsbG8='])
    assert.equal(valueHoldsPrivateKey(harmless), false, JSON.stringify(harmless));
  let deep: unknown = 'x';
  for (let i = 0; i < 200_000; i++) deep = [deep];
  assert.equal(valueHoldsPrivateKey(deep), false, 'deep nesting costs no stack');
});
