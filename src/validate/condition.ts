/**
 * The `when` condition of a step (issue 19 §6): a small expression language, parsed here by a
 * strict hand-written recursive-descent parser (no eval, no code execution, nothing but the grammar
 * below). A dependency-free parser is used rather than a library because the language is a dozen
 * tokens and every library found evaluates far more (functions, arithmetic, member access on
 * arbitrary objects) than a policy-reviewed condition should.
 *
 *   expr       := or
 *   or         := and ( "||" and )*
 *   and        := unary ( "&&" unary )*
 *   unary      := "!" unary | primary
 *   primary    := "(" expr ")" | "true" | "false" | comparison
 *   comparison := value ( "==" | "!=" ) value
 *               | value ( "in" | "notin" ) "[" value ( "," value )* "]"
 *   value      := ref | string
 *   ref        := "steps." STEP ".phase" | "steps." STEP ".outputs." KEY
 *   string     := '…' | "…"      (no escapes; printable characters; at most 256)
 *
 * White space between tokens is ASCII space and tab only, and no hidden or look-alike character
 * (src/units/text.ts HIDDEN_TEXT but the tab, or a space separator but U+0020) may appear
 * anywhere, literals included; a refused character is shown as `\u{hex}` (REDTEAM-3 finding 8).
 *
 * Bounds: 1024 characters, 128 tokens, nesting 16. A ref names a step (a DNS label) and either
 * its phase or one of its outputs (a C identifier). Values are strings; comparison is exact.
 */
import { HIDDEN_TEXT, revealHidden } from '../units/text.ts';

/** A reference to a dependency's phase or one of its outputs. */
export type ConditionRef =
  | { readonly kind: 'phase'; readonly step: string }
  | { readonly kind: 'output'; readonly step: string; readonly key: string };

export type ConditionValue = ConditionRef | { readonly kind: 'string'; readonly value: string };

/** The parsed condition. */
export type Condition =
  | { readonly kind: 'bool'; readonly value: boolean }
  | { readonly kind: 'not'; readonly of: Condition }
  | { readonly kind: 'and' | 'or'; readonly left: Condition; readonly right: Condition }
  | { readonly kind: 'eq' | 'ne'; readonly left: ConditionValue; readonly right: ConditionValue }
  | { readonly kind: 'in' | 'notin'; readonly left: ConditionValue; readonly values: readonly ConditionValue[] };

export const CONDITION_LIMITS = Object.freeze({ length: 1024, tokens: 128, depth: 16, string: 256 });

/** The phases a step can be in (status.steps[].phase): the only strings a phase is compared with. */
export const CONDITION_PHASES: readonly string[] = Object.freeze([
  'Pending',
  'Running',
  'Succeeded',
  'Failed',
  'Denied',
  'Error',
  'Skipped',
  'Cancelled',
]);

type Token =
  | { readonly t: 'op'; readonly v: string; readonly at: number }
  | { readonly t: 'ref'; readonly v: ConditionRef; readonly at: number }
  | { readonly t: 'str'; readonly v: string; readonly at: number };

const OPS = ['&&', '||', '==', '!=', '!', '(', ')', '[', ']', ','] as const;
const WORDS = new Set(['true', 'false', 'in', 'notin']);
const REF =
  /^steps\.([a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?)\.(phase|outputs\.([A-Za-z_][A-Za-z0-9_]{0,62}))(?![A-Za-z0-9_.-])/;
const WORD = /^[a-z]+(?![A-Za-z0-9_.-])/;
/** No control characters (C0 and DEL) in a string literal. */
const printable = (text: string): boolean =>
  [...text].every((ch) => {
    const code = ch.codePointAt(0) ?? 0;
    return code >= 0x20 && code !== 0x7f;
  });

/**
 * What a condition must not hold anywhere (REDTEAM-3 finding 8): the hidden characters of
 * src/units/text.ts (controls, bidi, zero-width, tag characters, lone surrogates, ...) except the
 * tab, and every space separator but U+0020 (NBSP, U+2000–U+200A, U+3000, ...): a literal or the
 * white space between tokens would read differently from what is compared.
 */
const HIDDEN_IN_CONDITION = new RegExp(`(?!\\t)${HIDDEN_TEXT.source}|(?! )\\p{Zs}`, 'u');
/** White space between tokens: ASCII space and tab only. */
const BLANK = new Set([' ', '\t']);

/** `s` as a message may show it: hidden characters and non-ASCII spaces as `\u{hex}`. */
export function revealCondition(s: string): string {
  return [...revealHidden(s)]
    .map((c) => (/\p{Zs}/u.test(c) && c !== ' ' ? `\\u{${c.codePointAt(0)!.toString(16)}}` : c))
    .join('');
}

/** The result of parsing: the condition, or why not (with the character offset). */
export type ParsedCondition =
  | { readonly ok: true; readonly condition: Condition; readonly refs: readonly ConditionRef[] }
  | { readonly ok: false; readonly message: string };

class ParseError extends Error {}

function tokenize(text: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < text.length) {
    if (BLANK.has(text[i] ?? '')) {
      i++;
      continue;
    }
    if (out.length >= CONDITION_LIMITS.tokens) throw new ParseError(`more than ${CONDITION_LIMITS.tokens} tokens`);
    const [token, length] = nextToken(text, i);
    out.push(token);
    i += length;
  }
  return out;
}

/** The token at offset `i` and how many characters it takes. */
function nextToken(text: string, i: number): [Token, number] {
  const rest = text.slice(i);
  const op = OPS.find((o) => rest.startsWith(o));
  if (op !== undefined) return [{ t: 'op', v: op, at: i }, op.length];
  const quote = rest[0];
  if (quote === "'" || quote === '"') {
    const end = rest.indexOf(quote, 1);
    if (end < 0) throw new ParseError(`unterminated string at ${i}`);
    const value = rest.slice(1, end);
    if (value.length > CONDITION_LIMITS.string || !printable(value))
      throw new ParseError(`string at ${i}: at most ${CONDITION_LIMITS.string} printable characters`);
    return [{ t: 'str', v: value, at: i }, end + 1];
  }
  const ref = REF.exec(rest);
  if (ref !== null) {
    const [all, step = '', field = '', key] = ref;
    const v: ConditionRef = field === 'phase' ? { kind: 'phase', step } : { kind: 'output', step, key: key ?? '' };
    return [{ t: 'ref', v, at: i }, all.length];
  }
  const word = WORD.exec(rest)?.[0];
  if (word !== undefined && WORDS.has(word)) return [{ t: 'op', v: word, at: i }, word.length];
  throw new ParseError(`unexpected input at ${i}: "${revealCondition([...rest].slice(0, 16).join(''))}"`);
}

/** Recursive descent over the tokens; every rule of the grammar above is one method. */
class Parser {
  private i = 0;
  private readonly toks: readonly Token[];
  constructor(toks: readonly Token[]) {
    this.toks = toks;
  }
  parse(): Condition {
    const c = this.or(0);
    const t = this.toks[this.i];
    if (t !== undefined) throw new ParseError(`unexpected "${show(t)}" at ${t.at}`);
    return c;
  }
  private or(depth: number): Condition {
    let left = this.and(depth);
    while (this.eat('||')) left = { kind: 'or', left, right: this.and(depth) };
    return left;
  }
  private and(depth: number): Condition {
    let left = this.unary(depth);
    while (this.eat('&&')) left = { kind: 'and', left, right: this.unary(depth) };
    return left;
  }
  private unary(depth: number): Condition {
    if (depth > CONDITION_LIMITS.depth) throw new ParseError(`nested deeper than ${CONDITION_LIMITS.depth}`);
    if (this.eat('!')) return { kind: 'not', of: this.unary(depth + 1) };
    if (this.eat('(')) {
      const inner = this.or(depth + 1);
      this.expect(')');
      return inner;
    }
    if (this.eat('true')) return { kind: 'bool', value: true };
    if (this.eat('false')) return { kind: 'bool', value: false };
    return this.comparison();
  }
  private comparison(): Condition {
    const left = this.value();
    if (this.eat('==')) return { kind: 'eq', left, right: this.value() };
    if (this.eat('!=')) return { kind: 'ne', left, right: this.value() };
    for (const kind of ['in', 'notin'] as const) {
      if (!this.eat(kind)) continue;
      this.expect('[');
      const values = [this.value()];
      while (this.eat(',')) values.push(this.value());
      this.expect(']');
      return { kind, left, values };
    }
    throw new ParseError(`expected ==, !=, in or notin ${this.where()}`);
  }
  private value(): ConditionValue {
    const t = this.toks[this.i];
    if (t?.t === 'ref') {
      this.i++;
      return t.v;
    }
    if (t?.t === 'str') {
      this.i++;
      return { kind: 'string', value: t.v };
    }
    throw new ParseError(`expected steps.<name>.phase, steps.<name>.outputs.<key> or a quoted string ${this.where()}`);
  }
  private eat(op: string): boolean {
    const t = this.toks[this.i];
    if (t?.t !== 'op' || t.v !== op) return false;
    this.i++;
    return true;
  }
  private expect(op: string): void {
    if (!this.eat(op)) throw new ParseError(`expected "${op}" ${this.where()}`);
  }
  private where(): string {
    const t = this.toks[this.i];
    return t === undefined ? 'at the end' : `at ${t.at} (found "${show(t)}")`;
  }
}

const show = (t: Token): string =>
  t.t === 'op' ? t.v : t.t === 'str' ? 'a string' : `steps.${t.v.step}.${t.v.kind === 'phase' ? 'phase' : 'outputs'}`;

/** Every ref of a condition, in order (for the checks against the workflow's steps). */
export function refsOf(c: Condition): ConditionRef[] {
  const values = (vs: readonly ConditionValue[]): ConditionRef[] =>
    vs.filter((v): v is ConditionRef => v.kind !== 'string');
  switch (c.kind) {
    case 'bool':
      return [];
    case 'not':
      return refsOf(c.of);
    case 'and':
    case 'or':
      return [...refsOf(c.left), ...refsOf(c.right)];
    case 'eq':
    case 'ne':
      return values([c.left, c.right]);
    case 'in':
    case 'notin':
      return values([c.left, ...c.values]);
  }
}

/** Parses a condition; never throws. */
export function parseCondition(text: string): ParsedCondition {
  if (text.length > CONDITION_LIMITS.length)
    return { ok: false, message: `at most ${CONDITION_LIMITS.length} characters` };
  const hidden = HIDDEN_IN_CONDITION.exec(text);
  if (hidden !== null)
    return {
      ok: false,
      message: `hidden or look-alike character ${revealCondition(hidden[0])} at ${hidden.index}: a condition is printable text, spaces and tabs only`,
    };
  try {
    const condition = new Parser(tokenize(text)).parse();
    return { ok: true, condition, refs: refsOf(condition) };
  } catch (e) {
    if (e instanceof ParseError) return { ok: false, message: e.message };
    throw e;
  }
}

/** The string literals a phase ref is compared with (each must be one of CONDITION_PHASES). */
export function phaseLiterals(c: Condition): string[] {
  const lit = (vs: readonly ConditionValue[]): string[] =>
    vs.some((v) => v.kind === 'phase') ? vs.flatMap((v) => (v.kind === 'string' ? [v.value] : [])) : [];
  switch (c.kind) {
    case 'bool':
      return [];
    case 'not':
      return phaseLiterals(c.of);
    case 'and':
    case 'or':
      return [...phaseLiterals(c.left), ...phaseLiterals(c.right)];
    case 'eq':
    case 'ne':
      return lit([c.left, c.right]);
    case 'in':
    case 'notin':
      return lit([c.left, ...c.values]);
  }
}
