/**
 * Characters a reader cannot see, or that change how the text around them reads: what every
 * place that shows logged or signed text to a person (the terminal table of `audit query`, the
 * CLI's messages, the HTML report) writes as a visible `\u{…}` escape instead.
 *
 * The class (red-team round 2, finding 12; "Trojan Source", CVE-2021-42574; Unicode TR #36
 * "Unicode Security Considerations" §2.4 and UTS #39 on invisible characters):
 * - `\p{Cc}` control characters (C0, DEL, C1): in a terminal they move the cursor, recolour or
 *   forge rows;
 * - `\p{Cf}` format characters: the Bidi_Control set (U+061C, U+200E, U+200F, U+202A–U+202E,
 *   U+2066–U+2069) reorders what is shown; zero-width characters (U+200B–U+200D, U+2060–U+2064,
 *   U+FEFF), the soft hyphen U+00AD, U+180E, the interlinear annotations U+FFF9–U+FFFB and the
 *   tag characters U+E0001–U+E007F hide text inside text;
 * - `\p{Zl}`, `\p{Zp}` (U+2028, U+2029): line breaks that are not `\n`;
 * - the Hangul fillers U+115F, U+1160, U+3164, U+FFA0: letters that render as nothing;
 * - lone UTF-16 surrogates (`\p{Cs}`), which have no encoding at all.
 */
export const HIDDEN_TEXT = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}\u115f\u1160\u3164\uffa0]/gu;

const reveal = (c: string): string => `\\u{${(c.codePointAt(0) ?? 0).toString(16)}}`;

/** `s` with every HIDDEN_TEXT character written as `\u{hex}` (lower-case hex); all else unchanged. */
export function revealHidden(s: string): string {
  return s.replace(HIDDEN_TEXT, reveal);
}

/**
 * As revealHidden, but keeps tab, line feed and carriage return: in HTML they are only white space
 * (they cannot forge a row or move a cursor), and a patch or a script shown in `<pre>` needs them.
 */
export function revealHiddenInHtml(s: string): string {
  return s.replace(HIDDEN_TEXT, (c) => (c === '\t' || c === '\n' || c === '\r' ? c : reveal(c)));
}
