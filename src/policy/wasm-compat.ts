/**
 * Rego that the Go implementation (opa test, opa check --strict, regal) accepts but the WASM host
 * cannot evaluate. `opa build --capabilities` already refuses builtins the JS SDK lacks; what it
 * cannot see is a builtin the SDK has but implements differently. Known class (issue 18):
 *
 *   sprintf: the SDK formats with sprintf-js, which knows the verbs b c d e f g i j o s t T u v x X
 *   (and %%); Go's other verbs (%q, %U, %E, %F, %G, %O, %p) and the `#` / space flags throw
 *   "[sprintf] unexpected placeholder" at evaluation — on every step the rule reaches, which
 *   fails closed as a deny even when the rule's action is warn.
 *
 * This is a static scan of constant format strings, naming file, line, rule and builtin; the
 * fixture suites are the dynamic check (a throw on any fixture refuses the bundle).
 */
export interface WasmProblem {
  readonly file: string;
  readonly line: number;
  readonly rule: string;
  readonly builtin: string;
  readonly detail: string;
}

/** A sprintf-js placeholder (its own grammar, src/sprintf.js `re.placeholder`), anchored. */
const PLACEHOLDER = /^%(?:[1-9]\d*\$|\([^)]+\))?\+?(?:0|'[^$])?-?\d*(?:\.\d+)?[b-gijostTuvxX]/;

/** The verbs in a format string that sprintf-js refuses (each with the text that failed). */
export function unsupportedVerbs(format: string): string[] {
  const bad: string[] = [];
  for (let i = format.indexOf('%'); i !== -1; i = format.indexOf('%', i + 1)) {
    if (format[i + 1] === '%') {
      i++;
      continue;
    }
    const m = PLACEHOLDER.exec(format.slice(i));
    if (m === null) bad.push(format.slice(i, i + 3).replace(/\s.*$/s, ''));
    else i += m[0].length - 1;
  }
  return bad;
}

const RULE_HEAD = /^([a-z_][A-Za-z0-9_]*)\b/;
const NOT_RULES = new Set(['package', 'import', 'default']);

/** The rule a line belongs to: the last head at column 0 above it. */
function ruleAt(lines: readonly string[], index: number): string {
  for (let i = index; i >= 0; i--) {
    const m = RULE_HEAD.exec(lines[i] ?? '');
    if (m !== null && !NOT_RULES.has(m[1]!)) return m[1]!;
    if (m !== null && m[1] === 'default') return /^default\s+([A-Za-z0-9_]+)/.exec(lines[i]!)?.[1] ?? 'default';
  }
  return '(package)';
}

/** Every call of sprintf with a constant format string using a verb the WASM host lacks. */
export function wasmProblems(files: readonly { file: string; text: string }[]): WasmProblem[] {
  const out: WasmProblem[] = [];
  for (const { file, text } of files) {
    if (file.endsWith('_test.rego')) continue;
    const lines = text.split('\n');
    for (const m of text.matchAll(/\bsprintf\(\s*(?:"((?:[^"\\\n]|\\.)*)"|`([^`]*)`)/g)) {
      const bad = unsupportedVerbs(m[1] ?? m[2] ?? '');
      if (bad.length === 0) continue;
      const index = text.slice(0, m.index).split('\n').length - 1;
      out.push({
        file,
        line: index + 1,
        rule: ruleAt(lines, index),
        builtin: 'sprintf',
        detail: `format verb ${bad.join(', ')} is not implemented by the WASM host (sprintf-js knows %s %d %v %f %x %t ...; use %s or %v)`,
      });
    }
  }
  return out;
}

/** One line per problem: "file:line: rule <r>: builtin sprintf: ...". */
export const describeProblem = (p: WasmProblem): string =>
  `${p.file}:${p.line}: rule ${p.rule}: builtin ${p.builtin}: ${p.detail}`;
