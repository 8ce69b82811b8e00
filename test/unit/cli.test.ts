import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { main } from '../../src/cli/main.ts';

async function cli(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (l) => out.push(l), err: (l) => err.push(l), color: false }, {});
  return { code, out: out.join('\n'), err: err.join('\n') };
}

const COMMANDS = [
  ['serve'],
  ['demo'],
  ['dev', 'cluster', 'up'],
  ['dev', 'cluster', 'down'],
  ['dev', 'sign'],
  ['dev', 'bundle-server'],
  ['policy', 'build'],
  ['policy', 'test'],
  ['policy', 'eval'],
  ['policy', 'replay'],
  ['audit', 'verify'],
  ['audit', 'query'],
  ['audit', 'report'],
];

test('every command has --help with examples and the exit codes, and exits 0', async () => {
  for (const c of COMMANDS) {
    const r = await cli(...c, '--help');
    assert.equal(r.code, 0, c.join(' '));
    assert.match(r.out, /Examples:\n {2}\$ kubiya-runner /, c.join(' '));
    assert.match(r.out, /Exit codes: 0/, c.join(' '));
  }
});

test('usage errors exit 2 with a message on stderr', async () => {
  for (const argv of [['nope'], ['demo', '--output', 'xml'], ['audit', 'verify']]) {
    const r = await cli(...argv);
    assert.equal(r.code, 2, argv.join(' '));
    assert.match(r.err, /error:/);
  }
});

test('expected failures print "<CODE>: message" on stderr with exit 2; a broken chain exits 1', async () => {
  const missing = await cli('audit', 'verify', '/nonexistent/dir');
  assert.equal(missing.code, 2);
  assert.match(missing.err, /^AUDIT_READ_FAILED: /);
  const dir = await mkdtemp(join(tmpdir(), 'kubiya-cli-'));
  try {
    await writeFile(
      join(dir, 'segment-00000001.jsonl'),
      JSON.stringify({ seq: 1, prev: '0'.repeat(64), hash: 'bad' }) + '\n',
    );
    const broken = await cli('audit', 'verify', dir, '--output', 'json');
    assert.equal(broken.code, 1);
    const report = JSON.parse(broken.out) as { ok: boolean; firstBad: { seq: number; where: string } };
    assert.equal(report.ok, false);
    assert.equal(report.firstBad.seq, 1);
    assert.equal(report.firstBad.where, 'segment-00000001.jsonl:1');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('dev sign mints a token that the runner verifies with the JWKS written beside the key', async () => {
  const { readFile: read, mkdtemp: tmp, rm: remove } = await import('node:fs/promises');
  const { createLocalJWKSet } = await import('jose');
  const { verify } = await import('../../src/verify/verify.ts');
  const dir = await tmp(join(tmpdir(), 'kubiya-sign-'));
  try {
    const keyFile = join(dir, 'signing-key.json');
    const first = await cli(
      'dev',
      'sign',
      'examples/python-analyze.yaml',
      '--key',
      keyFile,
      '--audience',
      'r1',
      '--issuer',
      'https://cp',
    );
    assert.equal(first.code, 0, first.err);
    assert.match(first.err, /created signing key/);
    const second = await cli(
      'dev',
      'sign',
      'examples/python-analyze.yaml',
      '--key',
      keyFile,
      '--audience',
      'r1',
      '--issuer',
      'https://cp',
      '--jti',
      'fixed-1',
    );
    assert.equal(second.err, '', 'the key is reused');
    const jwks = JSON.parse(await read(join(dir, 'signing-key.jwks.json'), 'utf8')) as Parameters<
      typeof createLocalJWKSet
    >[0];
    for (const token of [first.out, second.out]) {
      const r = await verify(
        token,
        {
          algorithms: ['EdDSA'],
          issuer: 'https://cp',
          audience: 'r1',
          maxTokenAgeSeconds: 600,
          clockToleranceSeconds: 5,
        },
        { keys: createLocalJWKSet(jwks), now: () => new Date() },
      );
      assert.ok(r.ok, JSON.stringify(!r.ok && r.error));
    }
    assert.equal(
      (JSON.parse(Buffer.from(second.out.split('.')[1]!, 'base64url').toString()) as { jti: string }).jti,
      'fixed-1',
    );
    const missing = await cli('dev', 'sign', 'nope.yaml', '--key', keyFile);
    assert.equal(missing.code, 2);
    assert.match(missing.err, /^VALIDATE_SCHEMA: /);
  } finally {
    await remove(dir, { recursive: true, force: true });
  }
});

// audit query refuses a malformed --limit (-1 once dropped the last record, "abc" printed nothing)
// and a malformed filter before it reads anything: exit 2, AUDIT_QUERY_INVALID, the reason.
test('audit query: --limit and the filters are checked before reading', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kubiya-cli-query-'));
  try {
    for (const args of [
      ['--limit', '-1'],
      ['--limit', 'abc'],
      ['--limit', '0'],
      ['--limit', '1.5'],
      ['--since', 'yesterday'],
      ['--until', '2026-13-01'],
      ['--outcome', 'maybe'],
      ['--stage', 'bogus'],
    ]) {
      const r = await cli('audit', 'query', dir, ...args);
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.err, /AUDIT_QUERY_INVALID: --(limit|since|until|outcome|stage) /, args.join(' '));
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
