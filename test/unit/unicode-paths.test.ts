/**
 * textIssues builds its dotted paths incrementally (issue 20 §2: the walk was ~55 µs of each
 * decision), and tests a string's path only when the string holds a control or bidi character
 * (h-floor-3: the path test was most of the walk's cost). The class of fault: a path, a message or an issue count that differs from the
 * definition ("workflow" and every segment, keys escaped by `printable`, joined by dots). The
 * oracle below is that definition, written as the walk was before; variants: any JSON with keys
 * and values holding lone surrogates, NUL, bidi and control characters, under the paths that run
 * (command, args, exec, env) and the shown name.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { printable, runsText, textIssues } from '../../src/validate/unicode.ts';

function oracle(value: unknown): { path: string; message: string }[] {
  const shown = new Set(['workflow.name']);
  const problem = (s: string): string | undefined =>
    !s.isWellFormed()
      ? 'is not well-formed Unicode (a lone UTF-16 surrogate)'
      : s.includes('\u0000')
        ? 'must not contain a NUL character'
        : undefined;
  // eslint-disable-next-line no-control-regex -- as the module's
  const control = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/u;
  const bidi = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/u;
  const out: { path: string; message: string }[] = [];
  const walk = (v: unknown, path: string[]): void => {
    if (out.length >= 50) return;
    const at = ['workflow', ...path].join('.');
    if (typeof v === 'string') {
      const p =
        problem(v) ??
        (shown.has(at) && control.test(v)
          ? 'must not contain control or bidirectional formatting characters'
          : undefined) ??
        (runsText(at) && bidi.test(v) ? 'bidi' : undefined);
      if (p !== undefined) out.push({ path: at, message: p });
    } else if (Array.isArray(v)) v.forEach((x, i) => walk(x, [...path, String(i)]));
    else if (typeof v === 'object' && v !== null)
      for (const [k, x] of Object.entries(v)) {
        const p = problem(k);
        if (p !== undefined) out.push({ path: [at, printable(k)].join('.'), message: `key ${p}` });
        walk(x, [...path, printable(k)]);
      }
  };
  walk(value, []);
  return out.slice(0, 50);
}

const char = fc.constantFrom('a', '.', '\ud800', '\udc00', '\u0000', '\u202e', '\n', 'é', '😀', 'command', 'env');
const text = fc.array(char, { maxLength: 6 }).map((a) => a.join(''));
const key = fc.oneof(text, fc.constantFrom('steps', 'name', 'command', 'args', 'exec', 'env', 'sidecars', '0'));
const tree = fc.letrec((tie) => ({
  node: fc.oneof({ depthSize: 'small' }, text, fc.integer(), tie('list'), tie('object')),
  list: fc.array(tie('node'), { maxLength: 4 }),
  object: fc.dictionary(key, tie('node'), { maxKeys: 5 }),
})).node;
const workflow = fc.record({ name: text, steps: fc.array(fc.dictionary(key, tree, { maxKeys: 5 }), { maxLength: 3 }) });

test('textIssues: the same paths, messages and count as the definition', () => {
  fc.assert(
    fc.property(fc.oneof(tree, workflow), (v) => {
      const got = textIssues(v).map((i) => ({
        path: i.path,
        message: i.message.startsWith('must not contain bidi') ? 'bidi' : i.message,
      }));
      assert.deepEqual(got, oracle(v));
    }),
    { numRuns: 2000 },
  );
});

test('textIssues: a key with a lone surrogate is escaped in the paths below it', () => {
  const issues = textIssues({ steps: [{ ['k\ud800']: { command: ['\u202e'] } }] });
  assert.deepEqual(
    issues.map((i) => i.path),
    ['workflow.steps.0.k\\ud800', 'workflow.steps.0.k\\ud800.command.0'],
  );
  const deeper = textIssues({ steps: [{ ['k\ud800']: { x: '\u0000' } }] });
  assert.deepEqual(
    deeper.map((i) => i.path),
    ['workflow.steps.0.k\\ud800', 'workflow.steps.0.k\\ud800.x'],
  );
});
