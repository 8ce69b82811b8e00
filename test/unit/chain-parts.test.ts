/**
 * The pieces the audit chain is made of, each against an independent computation (node:crypto and
 * the canonicalize library, not our code): a record's hash and line (chain.ts), the batch writer's
 * bytes, the refusal of a record with no RFC 8785 form (one row per kind of value that has none),
 * signed checkpoints (checkpoint.ts: each signed field, a signature of another key or shape) and
 * the checkpoint keys (keys.ts: the key id, other key types refused with their type named).
 */
import assert from 'node:assert/strict';
import { createHash, createSecretKey, generateKeyPairSync, sign, verify } from 'node:crypto';
import { describe, test } from 'node:test';
import canonicalize from 'canonicalize';
import { AuditRecordInvalid, chain, chainLine, GENESIS, LineBatch, lineOf, sha256Hex } from '../../src/audit/chain.ts';
import { checkpointValid, signCheckpoint, type Checkpoint } from '../../src/audit/checkpoint.ts';
import { checkpointPublicKey, checkpointSigningKey, keyId } from '../../src/audit/keys.ts';
import type { AuditEntry } from '../../src/audit/record.ts';

const entry: AuditEntry = {
  decision_id: 'd-1',
  timestamp: '2026-06-01T12:00:00.000Z',
  stage: 'verify',
  outcome: 'deny',
  message: 'é "q" \u{1F600}',
  runner: 'r',
  labels: { b: '2', a: '1' },
};
const cyclic = (): unknown => {
  const o: Record<string, unknown> = {};
  o.self = o;
  return o;
};
const sha = (s: string | Buffer): string => createHash('sha256').update(s).digest('hex');

describe('chain: a record, its hash and its line', () => {
  test('GENESIS is 64 zeros', () => assert.equal(GENESIS, '0'.repeat(64)));

  test('the hash is SHA-256 of the canonical record without hash; the line appends it last', () => {
    const prev = 'a'.repeat(64);
    const canonical = canonicalize({ ...entry, seq: 7, prev }) as string;
    const { record, line } = chainLine(entry, 7, prev);
    assert.equal(record.hash, sha(canonical));
    assert.deepEqual(record, { ...entry, seq: 7, prev, hash: sha(canonical) });
    assert.equal(line, `${canonical.slice(0, -1)},"hash":"${sha(canonical)}"}`);
    assert.deepEqual(chain(entry, 7, prev), record);
    assert.equal(lineOf('{"a":1}', 'h'), '{"a":1,"hash":"h"}');
    assert.equal(sha256Hex('é'), sha(Buffer.from('é', 'utf8')));
  });

  const NO_FORM: [string, Record<string, unknown>, string][] = [
    ['NaN', { metrics: { x: NaN } }, 'NaN is not allowed'],
    ['Infinity', { metrics: { x: Infinity } }, 'Infinity is not allowed'],
    ['a cycle', { input: cyclic() }, 'Circular reference detected'],
    ['a BigInt', { metrics: { x: 1n } }, 'Do not know how to serialize a BigInt'],
    ['a lone surrogate', { message: '\ud800' }, 'Lone surrogate is not allowed'],
    ['a toJSON giving undefined', { toJSON: () => undefined }, 'not serialisable'],
  ];
  for (const [what, extra, reason] of NO_FORM) {
    test(`a record with ${what} has no canonical form: AuditRecordInvalid, nothing written`, () => {
      const bad: AuditEntry = { ...entry, ...extra };
      const check = (e: unknown): boolean => {
        assert.ok(e instanceof AuditRecordInvalid);
        assert.equal(e.name, 'AuditRecordInvalid');
        assert.equal(e.code, 'AUDIT_RECORD_INVALID');
        assert.equal(e.message, `audit record cannot be canonicalised (RFC 8785): ${reason}`);
        return true;
      };
      assert.throws(() => chainLine(bad, 1, GENESIS), check);
      const batch = new LineBatch();
      batch.add(entry, 1, GENESIS);
      const before = Buffer.from(batch.bytes());
      assert.throws(() => batch.add(bad, 2, GENESIS), check);
      assert.ok(batch.bytes().equals(before));
    });
  }

  test('a record whose toJSON throws something that is not an Error: "not serialisable"', () => {
    const bad = {
      ...entry,
      toJSON: (): never => {
        throw 'no'; // eslint-disable-line @typescript-eslint/only-throw-error
      },
    } as unknown as AuditEntry;
    assert.throws(() => chainLine(bad, 1, GENESIS), {
      message: 'audit record cannot be canonicalised (RFC 8785): not serialisable',
    });
  });

  test("LineBatch writes chainLine's lines, each with a newline; reset starts over; a big record grows the buffer", () => {
    const batch = new LineBatch();
    const big = { ...entry, message: `${'x'.repeat(600_000)}é${'\u{1F600}'.repeat(40_000)}` };
    const entries = [entry, big, entry, { ...entry, message: '' }];
    let prev = GENESIS;
    let want = '';
    for (const [i, e] of entries.entries()) {
      const { record, line } = chainLine(e, i + 1, prev);
      assert.deepEqual(batch.add(e, i + 1, prev), record);
      want += `${line}\n`;
      prev = record.hash;
    }
    assert.equal(batch.bytes().toString('utf8'), want);
    batch.reset();
    assert.equal(batch.bytes().length, 0);
    const { line } = chainLine(entry, 9, prev);
    batch.add(entry, 9, prev);
    assert.equal(batch.bytes().toString('utf8'), `${line}\n`);
  });
});

describe('checkpoints: what the signature covers', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const other = generateKeyPairSync('ed25519');
  const c = signCheckpoint({ seq: 5, head: 'b'.repeat(64), time: '2026-06-01T12:00:00.000Z', kid: 'k1' }, privateKey);

  test('an Ed25519 signature over the canonical {seq, head, time, kid}, base64url', () => {
    const payload = Buffer.from(canonicalize({ seq: 5, head: 'b'.repeat(64), time: c.time, kid: 'k1' }) as string);
    assert.deepEqual(Object.keys(c).sort(), ['head', 'kid', 'seq', 'sig', 'time']);
    assert.match(c.sig, /^[A-Za-z0-9_-]{86}$/);
    assert.ok(verify(null, payload, publicKey, Buffer.from(c.sig, 'base64url')));
    assert.equal(c.sig, sign(null, payload, privateKey).toString('base64url'));
    assert.equal(checkpointValid(c, publicKey), true);
  });

  const ALTERED: [string, Checkpoint][] = [
    ['seq', { ...c, seq: 6 }],
    ['head', { ...c, head: 'c'.repeat(64) }],
    ['time', { ...c, time: '2026-06-01T12:00:01.000Z' }],
    ['kid', { ...c, kid: 'k2' }],
    ['sig (one character)', { ...c, sig: `${c.sig[0] === 'A' ? 'B' : 'A'}${c.sig.slice(1)}` }],
    ['sig (empty)', { ...c, sig: '' }],
    ['sig (not base64url)', { ...c, sig: '!!!' }],
    ['sig (of another key)', signCheckpoint({ seq: 5, head: c.head, time: c.time, kid: 'k1' }, other.privateKey)],
  ];
  for (const [what, altered] of ALTERED)
    test(`a checkpoint with another ${what} is not valid`, () =>
      assert.equal(checkpointValid(altered, publicKey), false));

  test('members beside the four signed ones change nothing; a key that cannot verify is "not valid", not a throw', () => {
    assert.equal(checkpointValid({ ...c, extra: 1 } as Checkpoint, publicKey), true);
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    assert.equal(checkpointValid(c, ec.publicKey), false);
  });

  test('what node:crypto throws on is "not valid", not a throw: a non-string sig, a secret key, a BigInt seq', () => {
    // checkpoints.jsonl is read as JSON: a checkpoint of the wrong shape must not stop `audit verify`.
    assert.equal(checkpointValid({ ...c, sig: 5 } as unknown as Checkpoint, publicKey), false);
    assert.equal(checkpointValid(c, createSecretKey(Buffer.alloc(32))), false);
    assert.equal(checkpointValid({ ...c, seq: 5n } as unknown as Checkpoint, publicKey), false);
  });
});

describe('checkpoint keys', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  const pubPem = publicKey.export({ type: 'spki', format: 'pem' }) as string;
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });

  test('the key id: the first 16 hex digits of SHA-256 over the SPKI DER', () => {
    const der = publicKey.export({ type: 'spki', format: 'der' });
    assert.equal(keyId(publicKey), sha(der).slice(0, 16));
  });

  test('the signing key and its kid from a PEM; the public key from the public or the private PEM', () => {
    const { key, kid } = checkpointSigningKey(pem);
    assert.equal(key.type, 'private');
    assert.equal(kid, keyId(publicKey));
    for (const p of [pubPem, pem]) {
      const pub = checkpointPublicKey(p);
      assert.equal(pub.type, 'public');
      assert.equal(keyId(pub), keyId(publicKey));
    }
  });

  test('a key of another type is refused, its type named', () => {
    const ecPem = ec.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    assert.throws(() => checkpointSigningKey(ecPem), { message: 'checkpoint signing key must be Ed25519, not ec' });
    assert.throws(() => checkpointPublicKey(ecPem), { message: 'checkpoint key must be Ed25519, not ec' });
    const ecPub = ec.publicKey.export({ type: 'spki', format: 'pem' }) as string;
    assert.throws(() => checkpointPublicKey(ecPub), { message: 'checkpoint key must be Ed25519, not ec' });
  });
});
