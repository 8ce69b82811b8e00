/**
 * What a JSON or YAML parser said about a text, without any of the text. Parsers quote what they
 * stumbled on — V8's JSON.parse the text's first bytes (`Unexpected token 'S', "SECRET…" is not
 * valid JSON`), the yaml library the offending line under a caret — and a file an operator names
 * by mistake may be a key or a token (red team 16, finding 3). JSON: "not valid JSON" and, when V8
 * gives it, the line and column or the position; YAML (an error with `code` and `linePos`, yaml's
 * YAMLError): "not valid YAML", its code, line and column. Any other error: its message, which is
 * ours (a refused file, a schema problem) and names no content.
 */
export function parseProblem(e: unknown): string {
  if (e instanceof SyntaxError) {
    const at = /at position (\d+)(?: \(line (\d+) column (\d+)\))?/.exec(e.message);
    if (at?.[2] !== undefined) return `not valid JSON (at line ${at[2]}, column ${at[3]})`;
    if (at !== null) return `not valid JSON (at byte ${at[1]})`;
    return /end of JSON input/.test(e.message) ? 'not valid JSON (it ends too early)' : 'not valid JSON';
  }
  const yaml = e as { code?: unknown; linePos?: readonly { line: number; col: number }[]; name?: unknown } | null;
  if (typeof yaml?.name === 'string' && yaml.name.startsWith('YAML') && typeof yaml.code === 'string') {
    const pos = yaml.linePos?.[0];
    return `not valid YAML (${yaml.code}${pos === undefined ? '' : ` at line ${pos.line}, column ${pos.col}`})`;
  }
  return e instanceof Error ? e.message : String(e);
}
