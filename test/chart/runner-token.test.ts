// Red team 17 (listed as finding 13 in the report). Class: a value refused when the runner starts
// rather than when the chart renders. The README's `--set runner.token=${RUNNER_TOKEN}` with the
// variable unset rendered (rc 0) and the runner crash-looped with STARTUP_FAILED; a token with a
// trailing newline rendered too, and the runner refused it as an environment value. The chart now
// refuses, at render and naming the key, every token the runner would refuse at start when the
// chart's own Secret carries it (no runner.existingSecret): the table below, and a property that
// the chart's verdict equals the runner's (loadConfig with RUNNER_TOKEN, then runnerToken) for
// tokens made of letters, white space, control and non-ASCII characters. Red team 18 (finding 8):
// a token with a character outside visible ASCII (`tok€n`, a space inside) rendered and loaded,
// and then every control-plane request failed; refused at render and at start now.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import fc from 'fast-check';
import { parseAllDocuments } from 'yaml';
import { resolveTools } from '../../src/adapters/tools.ts';
import { runnerToken } from '../../src/app/control-plane-link.ts';
import { loadConfig } from '../../src/config/load.ts';
import { renderChart } from '../../src/dev/manifest.ts';

type Doc = {
  kind?: string;
  metadata?: { name?: string };
  data?: Record<string, string>;
  stringData?: Record<string, string>;
};
type Rendered = { ok: true; docs: Doc[] } | { ok: false; err: string };

const tools = resolveTools(['helm']);
if (!tools.ok) throw new Error(tools.error.message);
const helm = tools.value.helm;

/**
 * The chart rendered with runner.token and runner.existingSecret as given: a string token by
 * `--set-string` (its characters exactly: a values file would fold NEL or U+2028 and cannot carry
 * DEL), null by `--set …=null`, undefined not set (values.yaml's "").
 */
async function render(token: string | null | undefined, existingSecret?: string): Promise<Rendered> {
  const args: string[] = [];
  if (existingSecret !== undefined) args.push('--set', `runner.existingSecret=${existingSecret}`);
  if (token === null) args.push('--set', 'runner.token=null');
  else if (token !== undefined) args.push('--set-string', `runner.token=${token}`);
  return renderChart(helm, args).then(
    (out) => ({ ok: true, docs: parseAllDocuments(out).map((d) => d.toJS() as Doc) }),
    (e: { stderr?: string; message?: string }) => ({ ok: false, err: e.stderr ?? e.message ?? '' }),
  );
}

/** runner.yaml as the chart renders it (controlPlane.url set: pull mode). */
let runnerYaml = '';
before(async () => {
  const r = await render('t');
  assert.ok(r.ok, r.ok ? '' : r.err);
  runnerYaml = r.docs.find((d) => d?.metadata?.name?.endsWith('-config'))?.data?.['runner.yaml'] ?? '';
  assert.match(runnerYaml, /url: "?https:\/\/control-plane\.kubiya\.ai/);
});

/** Whether the runner starts with this RUNNER_TOKEN and the chart's runner.yaml (the chart's StatefulSet env). */
async function runnerStarts(token: string): Promise<boolean> {
  const config = loadConfig(runnerYaml, { RUNNER_TOKEN: token });
  if (!config.ok) return false;
  return runnerToken(config.value).then(
    () => true,
    () => false,
  );
}

const EMPTY = /runner\.token is empty, and controlPlane\.url is set with no runner\.existingSecret/;
const CONTROL = /runner\.token holds a control character/;
const SPACE = /runner\.token begins or ends with white space/;
const ASCII = /runner\.token holds a character outside visible ASCII/;

describe('runner.token: refused at render exactly when the runner would refuse it at start', () => {
  const SCHEMA = /missing property 'token'/;
  const cases: [
    label: string,
    token: string | null | undefined,
    existingSecret: string | undefined,
    want: RegExp | 'renders',
  ][] = [
    ['empty (the reported `--set runner.token=` with RUNNER_TOKEN unset)', '', undefined, EMPTY],
    ['left out (values.yaml default "")', undefined, undefined, EMPTY],
    ['null (the schema requires the key)', null, undefined, SCHEMA],
    ['three spaces', '   ', undefined, SPACE],
    ["a trailing newline (the reported $'abc\\n')", 'abc\n', undefined, CONTROL],
    ['CRLF', 'abc\r\n', undefined, CONTROL],
    ['a newline alone', '\n', undefined, CONTROL],
    ['a tab before', '\tabc', undefined, CONTROL],
    ['DEL inside', 'ab\x7fc', undefined, CONTROL],
    ['NEL (U+0085) after', 'abc\u0085', undefined, CONTROL],
    ['a space before', ' abc', undefined, SPACE],
    ['a space after', 'abc ', undefined, SPACE],
    ['NBSP after', 'abc\u00a0', undefined, SPACE],
    ['ideographic space before', '\u3000abc', undefined, SPACE],
    ['a BOM before', '\ufeffabc', undefined, SPACE],
    ['a line separator after', 'abc\u2028', undefined, SPACE],
    ['a token', 'kr_live_0123456789abcdef', undefined, 'renders'],
    // red team 18, finding 8: the token goes into the Authorization header (visible ASCII only)
    ['the reported tok€n (above U+00FF)', 'tok€n', undefined, ASCII],
    ['a CJK character', 'tok\u4e2dn', undefined, ASCII],
    ['an emoji', 'tok\u{1F600}n', undefined, ASCII],
    ['Latin-1 é', 'café-token', undefined, ASCII],
    ['NBSP inside', 'tok\u00a0n', undefined, ASCII],
    ['a space inside', 'a b', undefined, ASCII],
    ['an ideographic space inside', 'a\u3000b', undefined, ASCII],
    ['visible ASCII marks', "a!#$%&'*+-.^_`|~=", undefined, 'renders'],
    ['existingSecret, an unused token tok€n', 'tok€n', 'kubiya-runner-token', 'renders'],
    ['existingSecret, no token', undefined, 'kubiya-runner-token', 'renders'],
    ['existingSecret, an unused token with a newline', 'abc\n', 'kubiya-runner-token', 'renders'],
  ];
  for (const [label, token, existingSecret, want] of cases)
    test(`${label}: ${want === 'renders' ? 'renders' : 'refused'}`, async () => {
      const r = await render(token, existingSecret);
      if (want === 'renders') {
        assert.ok(r.ok, r.ok ? '' : r.err);
        const secret = r.docs.find((d) => d?.kind === 'Secret' && d.metadata?.name?.endsWith('-token'));
        if (existingSecret !== undefined) assert.equal(secret, undefined, 'no Secret of the chart');
        else assert.equal(secret?.stringData?.token, token);
      } else {
        assert.equal(r.ok, false, `${label} rendered`);
        if (!r.ok) assert.match(r.err, want);
        if (!r.ok && typeof token === 'string' && token.trim().length > 0)
          assert.ok(!r.err.includes(token.trim()), 'the token is never printed');
      }
      if (existingSecret === undefined)
        assert.equal(await runnerStarts(token ?? ''), want === 'renders', 'the runner agrees with the chart');
    });

  test('the chart and the runner agree on any token of letters, white space and control characters (property)', async () => {
    const chars = [
      'a',
      'Z',
      '0',
      '-',
      '_',
      ' ',
      '\n',
      '\r',
      '\t',
      '\x1b',
      '\x7f',
      '\u00a0',
      '\u2003',
      '\u3000',
      '\u20ac',
      '\u00e9',
      '\ufeff',
    ];
    await fc.assert(
      fc.asyncProperty(fc.array(fc.constantFrom(...chars), { maxLength: 6 }), async (parts) => {
        const token = parts.join('');
        const r = await render(token);
        assert.equal(r.ok, await runnerStarts(token), `${JSON.stringify(token)}: ${r.ok ? 'rendered' : r.err}`);
      }),
      { numRuns: 25 },
    );
  });

  test("the reported commands, as given: --set runner.token= and --set-string runner.token=$'abc\\n' are refused", async () => {
    await assert.rejects(renderChart(helm, ['--set', 'runner.token=']), EMPTY);
    await assert.rejects(renderChart(helm, ['--set-string', 'runner.token=abc\n']), CONTROL);
    const out = await renderChart(helm, ['--set', 'runner.token=abc']);
    assert.match(out, /token: "abc"/);
  });
});
