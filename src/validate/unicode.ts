/**
 * Text that can be stored, hashed and shown faithfully (issue 14 §5). Every string of the workflow
 * claim, keys and values at any depth, must be well-formed Unicode: a lone UTF-16 surrogate
 * (`"\udbff"` in the token's JSON) has no UTF-8 encoding, so the audit log could not canonicalise
 * the record that mentions it and the API server would store something else than was signed.
 * And no string may hold a NUL: argv and environment entries are C strings, so the process would
 * see less than the policy saw.
 *
 * Names shown to people (the workflow's display name) must also be free of control characters and
 * of bidirectional formatting characters (U+202A–U+202E, U+2066–U+2069, U+200E, U+200F, U+061C),
 * which make a listing read differently from what it holds (CVE-2021-42574, "Trojan Source").
 * What runs — `command` and `args` items, plain `env` values and exec handlers (a sidecar's probe
 * `exec.command`), of the step, its sidecars and its init containers (see RUN_TEXT) — must be free of the same bidirectional formatting characters (control
 * characters such as newlines and tabs stay: scripts need them): `audit query`, `kubectl` and
 * review tools show them, and a reordered command reads differently from what executes.
 * Every other name is a DNS label or a C identifier already; other strings may hold any other text.
 */

import { MAX_CLAIM_DEPTH, TOO_DEEP } from './claim-limits.ts';

export interface TextIssue {
  /** Dotted path from `workflow`, as the schema issues have it (keys escaped, see `printable`). */
  readonly path: string;
  readonly message: string;
}

const MAX_ISSUES = 50;
// eslint-disable-next-line no-control-regex -- the point is to find control characters
const CONTROL_OR_BIDI = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/u;
/** Unicode's Bidi_Control characters: embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069), and the marks U+200E, U+200F, U+061C. */
const BIDI = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/u;
/**
 * What runs, in ONE place (REDTEAM-3 finding 1): under a step (its own container, its sidecars, its
 * init containers), every string below a key named `command`, `args` or `exec` — argv, a sidecar's
 * `readinessProbe.exec.command` (rendered as readinessProbe AND startupProbe), and any probe,
 * lifecycle hook or other exec field a later schema adds, at any depth — and every plain `env`
 * value. Keyed by field name, not by a list of full paths, so a new exec field is covered the day
 * the schema accepts it (test/unit/unicode-exec.test.ts walks the built pod to check that).
 */
const RUN_TEXT = /^workflow\.steps\.[0-9]+\.(?:.*\.)?(?:(?:command|args|exec)\..+|env\.[^.]+)$/;

/** Whether the dotted path (from `workflow`, as textIssues reports it) holds text that a container executes. */
export function runsText(path: string): boolean {
  return RUN_TEXT.test(path);
}

/** A string as it may appear in a message or an audit record: lone surrogates and NULs escaped. */
export function printable(s: string): string {
  // No `u` flag: the class and the lookarounds see UTF-16 code units, so only lone halves match.
  return s.replace(
    // eslint-disable-next-line no-control-regex -- NUL is what is escaped
    /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]|\u0000/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

function problem(s: string): string | undefined {
  if (!s.isWellFormed()) return 'is not well-formed Unicode (a lone UTF-16 surrogate)';
  if (s.includes('\u0000')) return 'must not contain a NUL character';
  return undefined;
}

/** The problem of a string holding a control or bidi character at `at`: display names and what runs are held to more. */
function placeProblem(v: string, at: string, shown: ReadonlySet<string>): string | undefined {
  if (shown.has(at)) return 'must not contain control or bidirectional formatting characters';
  if (runsText(at) && BIDI.test(v))
    return 'must not contain bidirectional formatting characters (U+202A-U+202E, U+2066-U+2069, U+200E, U+200F, U+061C): the command would read differently from what runs';
  return undefined;
}

/**
 * Every ill-formed string of `value` (keys and values, nested), with its path; at most 50. `shown`
 * names the dotted paths of display names, which are held to the stricter rule above. The walk
 * recurses, so it does not go below MAX_CLAIM_DEPTH levels of `value`: a deeper container is an
 * issue itself (never a stack overflow; validate refuses such a claim before, src/validate/depth.ts).
 */
export function textIssues(value: unknown, shown: ReadonlySet<string> = SHOWN): TextIssue[] {
  const out: TextIssue[] = [];
  // The dotted path from `workflow` as segments (keys escaped by `printable`, which leaves a key with
  // no problem as it is), joined only when a string needs its path: most strings need none, and a
  // path string per value was most of this walk's allocation (issue 20).
  const path: string[] = ['workflow'];
  const at = (): string => path.join('.');
  const walk = (v: unknown): void => {
    if (out.length >= MAX_ISSUES) return;
    if (typeof v === 'string') {
      // The text first, the path only for text with a control or bidi character (BIDI is a subset
      // of CONTROL_OR_BIDI): most strings have none, and testing a path costs more than a string.
      const p = problem(v) ?? (CONTROL_OR_BIDI.test(v) ? placeProblem(v, at(), shown) : undefined);
      if (p !== undefined) out.push({ path: at(), message: p });
    } else if (typeof v === 'object' && v !== null && path.length > MAX_CLAIM_DEPTH) {
      out.push({ path: at(), message: TOO_DEEP });
    } else if (Array.isArray(v)) {
      // As forEach: indices present only (a hole is skipped), up to the length at the start.
      for (let i = 0, n = v.length; i < n; i++) {
        if (!(i in v)) continue;
        path.push(String(i));
        walk(v[i]);
        path.pop();
      }
    } else if (typeof v === 'object' && v !== null) {
      const record = v as Record<string, unknown>;
      for (const k of Object.keys(record)) {
        const p = problem(k);
        path.push(p === undefined ? k : printable(k));
        if (p !== undefined) out.push({ path: at(), message: `key ${p}` });
        walk(record[k]);
        path.pop();
      }
    }
  };
  walk(value);
  return out.slice(0, MAX_ISSUES);
}

/** The display names: shown in listings, reports and the control plane's UI. */
const SHOWN: ReadonlySet<string> = new Set(['workflow.name']);
