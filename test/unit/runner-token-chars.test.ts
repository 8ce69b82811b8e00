// The class (red team 18, finding 8; red team 17, finding 13): a value accepted where it is loaded
// and refused by the transport that uses it. A runner token with a character above U+00FF
// (`tok€n`) loaded, and every control-plane request then failed ("Cannot convert argument to a
// ByteString") while the pod looked Ready. The rule is now one, HEADER_TOKEN (visible ASCII,
// U+0021 to U+007E), wherever a runner token is loaded: runner.token in the config file, the
// RUNNER_TOKEN environment variable, and the content of runner.tokenFile. A refusal names the key
// and never holds the token. test/chart/runner-token.test.ts holds the chart's side.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { parse, stringify } from 'yaml';
import { runnerToken } from '../../src/app/control-plane-link.ts';
import { loadConfig } from '../../src/config/load.ts';
import { MINIMAL_CONFIG_YAML } from '../support/config.ts';

let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kubiya-token-chars-'));
});
after(async () => rm(dir, { recursive: true, force: true }));

/** The config with controlPlane.url set (pull mode: the token is needed) and `runner` members added. */
function yamlWith(runner: Record<string, unknown>): string {
  const doc = parse(MINIMAL_CONFIG_YAML) as { runner: Record<string, unknown>; controlPlane: Record<string, unknown> };
  Object.assign(doc.runner, runner);
  doc.controlPlane.url = 'https://control-plane.example';
  return stringify(doc);
}

/** How each source loads a token: the runner's verdict, and the message of a refusal. */
const SOURCES: Record<
  string,
  (token: string) => Promise<{ ok: true; token: string } | { ok: false; message: string }>
> = {
  'runner.token': (token) => {
    const c = loadConfig(yamlWith({ token }), {});
    return Promise.resolve(
      c.ok ? { ok: true, token: c.value.runner.token ?? '' } : { ok: false, message: c.error.message },
    );
  },
  RUNNER_TOKEN: (token) => {
    const c = loadConfig(yamlWith({}), { RUNNER_TOKEN: token });
    return Promise.resolve(
      c.ok ? { ok: true, token: c.value.runner.token ?? '' } : { ok: false, message: c.error.message },
    );
  },
  'runner.tokenFile': async (token) => {
    const file = join(dir, `token-${Math.random().toString(36).slice(2)}`);
    await writeFile(file, token);
    const c = loadConfig(yamlWith({ tokenFile: file }), {});
    if (!c.ok) return { ok: false, message: c.error.message };
    return runnerToken(c.value).then(
      (t) => ({ ok: true as const, token: t ?? '' }),
      (e: Error) => ({ ok: false as const, message: e.message }),
    );
  },
};

/** The key a refusal must name, per source. */
const KEY: Record<string, RegExp> = {
  'runner.token': /runner\.token/,
  RUNNER_TOKEN: /runner\.token|RUNNER_TOKEN/,
  'runner.tokenFile': /runner\.tokenFile/,
};

const BAD: [string, string][] = [
  ['the reported tok€n (U+20AC, above Latin-1)', 'tok€n'],
  ['a CJK character', 'tok\u4e2dn'],
  ['an emoji (a surrogate pair)', 'tok\u{1F600}n'],
  ['Latin-1 é (a ByteString, but not ASCII)', 'café-token'],
  ['Latin-1 ÿ (U+00FF)', 'tok\u00ffn'],
  ['NBSP inside', 'tok\u00a0n'],
  ['a space inside', 'tok n'],
  ['a tab inside', 'tok\tn'],
  ['NUL inside', 'tok\u0000n'],
  ['ESC inside', 'tok\u001bn'],
  ['DEL inside', 'tok\u007fn'],
  ['a C1 control (NEL) inside', 'tok\u0085n'],
  ['CR LF inside (header injection)', 'tok\r\nX-Injected: 1'],
  ['a line separator inside', 'tok\u2028n'],
  ['a BOM before', '\ufefftoken'],
];
const GOOD = [
  'kr_live_0123456789abcdef',
  'mF_9.B5f-4.1JqM',
  'abc+/def==',
  'eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2ln',
  "!#$%&'*+-.^_`|~",
  '~',
];

describe('a runner token an HTTP header cannot carry is refused where it is loaded, naming the key, never the token', () => {
  for (const [source, load] of Object.entries(SOURCES)) {
    // A file's content is trimmed (String.prototype.trim: a BOM is white space to it), the others are taken as written.
    for (const [label, token] of BAD.filter(([, t]) => source !== 'runner.tokenFile' || t.trim() === t))
      test(`${source}: ${label} → refused`, async () => {
        const r = await load(token);
        assert.equal(r.ok, false, `${JSON.stringify(token)} was accepted`);
        if (r.ok) return;
        assert.match(r.message, KEY[source]!);
        assert.ok(!r.message.includes(token), `the message holds the token: ${r.message}`);
        assert.ok(!r.message.includes(token.slice(0, 3) + token.slice(4)), 'no part of the token either');
      });
    for (const token of GOOD)
      test(`${source}: ${JSON.stringify(token)} → accepted as given`, async () => {
        const r = await load(token);
        assert.deepEqual(r, { ok: true, token });
      });
  }

  test('runner.tokenFile: an empty file, or one of white space only, is refused (it was an empty Bearer)', async () => {
    for (const content of ['', '\n', '  \n']) {
      const r = await SOURCES['runner.tokenFile']!(content);
      assert.equal(r.ok, false, JSON.stringify(content));
      if (!r.ok) assert.match(r.message, /runner\.tokenFile .*: the token in it is empty/);
    }
  });

  test('runner.tokenFile: the newline a file ends with (or a BOM it starts with) is still trimmed', async () => {
    assert.deepEqual(await SOURCES['runner.tokenFile']!('kr_live_abc\n'), { ok: true, token: 'kr_live_abc' });
    assert.deepEqual(await SOURCES['runner.tokenFile']!('\ufeffkr_live_abc'), { ok: true, token: 'kr_live_abc' });
  });

  test('every token the config accepts is one fetch can send (fast-check over ASCII, Latin-1 and beyond)', async () => {
    const char = fc.oneof(
      fc.integer({ min: 0x20, max: 0x7e }),
      fc.integer({ min: 0, max: 0x1f }),
      fc.integer({ min: 0x7f, max: 0xff }),
      fc.integer({ min: 0x100, max: 0xd7ff }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(char, { minLength: 1, maxLength: 8 }), async (codes) => {
        const token = String.fromCharCode(...codes);
        const r = await SOURCES.RUNNER_TOKEN!(token);
        let sendable = true;
        try {
          new Headers({ authorization: `Bearer ${token}` });
        } catch {
          sendable = false;
        }
        if (r.ok) assert.ok(sendable, `${JSON.stringify(token)} loaded but cannot be sent`);
        // and nothing visible-ASCII is refused
        if (/^[\x21-\x7e]+$/.test(token)) assert.ok(r.ok, JSON.stringify(token));
      }),
      { numRuns: 300 },
    );
  });
});
