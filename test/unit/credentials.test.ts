import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../../src/adapters/tools.ts';
import { CREDENTIAL_PATTERNS, MASK, maskInput, maskPatternsOf, maskText, maskValue } from '../../src/audit/mask.ts';
import { credentialHits, credentialPatterns } from '../../src/credentials/credentials.ts';
import { jsSource } from '../../src/credentials/js-source.ts';
import { linearTimeProblem } from '../../src/credentials/linear-time.ts';
import { coreSettingsSchema } from '../../src/policy/settings.ts';
import { ARGV_CASES, NAME_CASES, VALUE_CASES } from '../support/credentials.ts';

const data = JSON.parse(await readFile(join(REPO_ROOT, 'policies', 'data.json'), 'utf8')) as {
  kubiya: { settings: unknown };
};
const patterns = credentialPatterns(data.kubiya.settings);

test(`the default credential patterns (policies/data.json) in JavaScript: ${VALUE_CASES.length} values, ${NAME_CASES.length} env names`, () => {
  assert.ok(patterns.values.length >= 8 && patterns.envNames.length >= 7);
  for (const c of VALUE_CASES)
    assert.deepEqual(credentialHits(patterns.values, c.text).sort(), [...c.ids].sort(), JSON.stringify(c.text));
  for (const c of NAME_CASES)
    assert.deepEqual(credentialHits(patterns.envNames, c.name).sort(), [...c.ids].sort(), c.name);
  // the same regex object twice in a row: lastIndex of the "g" flag never hides a match
  assert.deepEqual(
    credentialHits(patterns.values, VALUE_CASES[0]!.text),
    credentialHits(patterns.values, VALUE_CASES[0]!.text),
  );
});

test('missing or malformed credential settings compile to no patterns, never a throw', () => {
  for (const s of [
    undefined,
    null,
    {},
    { secrets: null },
    { secrets: { credentials: [] } },
    { secrets: { credentials: { values: 'x' } } },
    { secrets: { credentials: { values: [{ id: 'x', pattern: '(' }, 1, null] } } },
  ]) {
    const p = credentialPatterns(s);
    assert.equal(p.values.length + p.envNames.length, 0);
  }
});

// ---- docs/reviews/2026-11-29-red-team.md finding 1: command lines, one list both ways -------------------------------------
// The class: a credential split over the words of a container's command line (a secret-named flag
// and its value, also from command into args; a tool's password option). The policy denies it
// (test/policies/classes.test.ts, compiled WASM, the same ARGV_CASES) and the audit log masks it.

test(`masking a command line: ${ARGV_CASES.length} cases, credentials gone, benign lines untouched`, () => {
  const union = maskPatternsOf(data.kubiya.settings);
  for (const c of ARGV_CASES) {
    const value = { ...(c.command ? { command: [...c.command] } : {}), ...(c.args ? { args: [...c.args] } : {}) };
    for (const extra of [undefined, union]) {
      const masked: string[] = [];
      const out = maskValue(value, '', masked, extra);
      // Benign lines stay readable under the floor; the bundle's env-name patterns also name flags
      // (--password-file reads as PASSWORD_FILE, a denied env name), so with them masking may hide more.
      if (c.secret === undefined) {
        if (extra !== undefined) continue;
        assert.deepEqual(out, value, `benign: ${JSON.stringify(value)}`);
        assert.deepEqual(masked, []);
      } else {
        assert.ok(!JSON.stringify(out).includes(c.secret), `${JSON.stringify(value)} → ${JSON.stringify(out)}`);
        assert.ok(masked.length > 0);
        assert.deepEqual(maskValue(out, '', [], extra), out, 'idempotent');
      }
    }
  }
});

test('the red-team literals: each is masked by the floor (and a credential the policy list denies)', () => {
  const texts = [
    'mysql -u root -phunter2',
    'curl -u admin:hunter2 https://x',
    'mysql --password hunter2',
    'DB_PASS=hunter2',
    'PASSPHRASE=hunter2',
    `gho_${'a'.repeat(300)}`,
    `https://glpat-${'abcdefghijklmnopqrst'}@gitlab.com/x.git`,
    'Cookie: session=abcdef123456',
    'https://user:p#ss@host/x',
  ];
  for (const t of texts) {
    assert.notEqual(maskText(t).text, t, t);
    assert.ok(credentialHits(patterns.values, t).length > 0, `the policy list denies ${t}`);
  }
  const masked: string[] = [];
  assert.deepEqual(
    maskValue({ args: ['--pass', 'x', '-p', 'x', '--passphrase', 'x', '--secret-key', 'x'] }, '', masked),
    { args: ['--pass', MASK, '-p', 'x', '--passphrase', MASK, '--secret-key', MASK] },
  );
  assert.deepEqual(maskValue({ command: ['--token'], args: ['abc'] }, '', []), { command: ['--token'], args: [MASK] });
});

// ---- docs/reviews/2026-11-29-red-team.md finding 2: masking runs in linear time --------------------------------------------
// The class: a pattern tried from every start position that scans far before failing (an
// unbounded prefix before the keyword), or nested quantifiers. Structural: every floor row and
// every default pattern passes linearTimeProblem, and the settings schema refuses one that does
// not (a bundle's patterns run in JavaScript too). One worst-case run guards the figure.

test('every floor row and every default pattern passes the linear-time lint; the lint refuses the slow shapes', () => {
  for (const p of CREDENTIAL_PATTERNS) assert.equal(linearTimeProblem(p.source), undefined, p.name);
  const c = (
    data.kubiya.settings as {
      secrets: {
        credentials: { envNames: { id: string; pattern: string }[]; values: { id: string; pattern: string }[] };
      };
    }
  ).secrets.credentials;
  for (const p of [...c.envNames, ...c.values]) assert.equal(linearTimeProblem(p.pattern), undefined, p.id);
  for (const slow of [
    '[A-Za-z0-9_.-]*(?:passw(?:or)?d|token)[:=]',
    '.*token',
    '\\S+@host',
    '(a+)+$',
    'abc([a-z]+ )*x',
    '(?i:[a-z]+_token)',
    'x*',
  ])
    assert.notEqual(linearTimeProblem(slow), undefined, slow);
  for (const fine of [
    'ACME-[0-9]{8}',
    '(?i:(^|_)pin(_|$))',
    'abc[a-z]*',
    'gh[pousr]_[A-Za-z0-9]{36,}',
    '[A-Za-z0-9_.-]{0,64}token=[^ ]+',
  ])
    assert.equal(linearTimeProblem(fine), undefined, fine);
});

test('the settings schema refuses a slow bundle pattern; masking skips one that got past it (the floor still masks)', () => {
  const slow = { secrets: { credentials: { values: [{ id: 'slow', pattern: '[a-z]*token=[^ ]+' }] } } };
  const parsed = coreSettingsSchema.safeParse(slow);
  assert.equal(parsed.success, false);
  assert.match(JSON.stringify(parsed.error?.issues), /linear time/);
  assert.equal(maskPatternsOf(slow).values.length, 0);
  assert.equal(
    coreSettingsSchema.safeParse({ secrets: { credentials: { values: [{ id: 'acme', pattern: 'ACME-[0-9]{8}' }] } } })
      .success,
    true,
  );
});

test('worst-case inputs mask quickly (regression guard: the old patterns took 2.5 s and 7 s here)', () => {
  const arg = 'password'.repeat(1024); // 8 192 characters, the schema's argLength
  const args = Array.from({ length: 5 }, () => arg);
  const union = maskPatternsOf(data.kubiya.settings);
  const t0 = performance.now();
  maskInput(
    { step: { name: 's', image: 'x:1', args }, pod: { spec: { containers: [{ name: 'step', args }] } } } as never,
    union,
  );
  for (const s of [
    'a'.repeat(65536),
    'password'.repeat(8192),
    '-eyJ'.repeat(16384),
    ' --'.repeat(21000),
    'mysql '.repeat(10000),
    'token="'.repeat(9000),
  ])
    maskText(s, union);
  const ms = performance.now() - t0;
  assert.ok(ms < 2000, `${ms.toFixed(0)} ms`);
});

test('jsSource spells (?i:...) out as case classes (V8 mis-matches some case-insensitive alternations), the same matches as RE2', () => {
  assert.equal(jsSource('(?i:a[b-c^]x)y'), '(?:[aA][b-c^B-C][xX])y');
  assert.equal(jsSource('A\\.b[^a-z]'), 'A\\.b[^a-z]', 'outside (?i:) nothing changes');
  const p = '(?i:(encryption|signing|session|hmac)_?key([0-9]*$|_))';
  for (const name of ['SIGNING_KEY', 'signing_key', 'HMAC_KEY', 'Session_Key2'])
    assert.ok(new RegExp(jsSource(p)).test(name), name);
  assert.ok(!new RegExp(jsSource(p)).test('KEYBOARD'));
});
