/**
 * The text rule for a step output's value, and the literal-text rule applied again to a step once
 * its output references are substituted (red-team round 4, finding 3: a value reached the pod
 * without the text rule its field has).
 *
 * A value (at most `MAX_OUTPUT_VALUE` characters) may hold no character that src/units/text.ts
 * calls hidden, the tab excepted: no control character (C0 U+0000–U+001F but the tab, DEL U+007F,
 * C1 U+0080–U+009F), no format character (the bidirectional controls U+061C, U+200E, U+200F,
 * U+202A–U+202E, U+2066–U+2069; zero-width U+200B–U+200D, U+2060–U+2064, U+FEFF; the soft hyphen
 * U+00AD; tag characters U+E0001–U+E007F; …), no line or paragraph separator (U+2028, U+2029), no
 * Hangul filler (U+115F, U+1160, U+3164, U+FFA0) and no lone surrogate. An output is a short value
 * (a tag, a reference, a count) that lands in an argument or an env value: none of these belongs
 * in one, and each can make the policy input, the audit record or the pod spec read differently
 * from what runs.
 */
import { HIDDEN_TEXT } from '../units/text.ts';
import type { Step } from './schema.ts';
import { textIssues } from './unicode.ts';

/** The longest value an output may hold, in UTF-16 code units (what `String.length` counts). */
export const MAX_OUTPUT_VALUE = 1024;

const HIDDEN_ONE = new RegExp(HIDDEN_TEXT.source, 'u');

/** `U+XXXX` for a code point (at least four upper-case hex digits). */
export const codePoint = (ch: string): string =>
  `U+${(ch.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;

/**
 * Why `value` may not be an output's value (its first refused character as `U+XXXX`, never the
 * value itself, which may be a secret), or undefined when it may.
 */
export function outputValueProblem(value: string): string | undefined {
  if (value.length > MAX_OUTPUT_VALUE) return `is ${String(value.length)} characters, over ${String(MAX_OUTPUT_VALUE)}`;
  const hidden = hiddenIn(value);
  if (hidden !== undefined)
    return `holds ${hidden}, a control, format (bidirectional, zero-width, tag), line-separator or lone-surrogate character`;
  return undefined;
}

/** The first character of `value` an output may not hold (HIDDEN_TEXT but the tab), as `U+XXXX`. */
export function hiddenIn(value: string): string | undefined {
  for (const ch of value) if (ch !== '\t' && HIDDEN_ONE.test(ch)) return codePoint(ch);
  return undefined;
}

/**
 * The first issue of `step` under the text rules validate() applies to a literal workflow
 * (src/validate/unicode.ts: well-formed Unicode and no NUL anywhere, no bidirectional formatting
 * character in what runs), as `{ path, message }` with the path relative to the step (`args.0`,
 * `env.TAG`); undefined when there is none.
 */
export function stepTextIssue(step: Step): { path: string; message: string } | undefined {
  const first = textIssues({ steps: [step] })[0];
  if (first === undefined) return undefined;
  return { path: first.path.replace(/^workflow\.steps\.0\./, ''), message: first.message };
}
