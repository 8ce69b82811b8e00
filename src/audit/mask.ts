import type { AuditEntry } from './record.ts';
import type { PolicyInput } from '../evaluate/evaluate.ts';
import { FLOOR_ONLY, type MaskPatterns } from './credential-patterns.ts';
import { commandLineHits, isSecretFlag } from './mask-command.ts';
import { cleanTextsOf, MASK, maskedText } from './mask-text.ts';

// The pattern tables live in credential-patterns.ts, the text masking in mask-text.ts, the
// command-line rules in mask-command.ts; re-exported so callers keep one import.
export { CREDENTIAL_PATTERNS, FLOOR_KEYWORDS, maskPatternsOf, type MaskPatterns } from './credential-patterns.ts';
export { MASK, maskText } from './mask-text.ts';

/**
 * Credentials never land in the permanent log (issue 14 §6): every audit record is masked before
 * it is hashed, with the JSON pointers of what was masked in its `masked` array (OPA's
 * decision-log convention). The patterns: credential-patterns.ts.
 */

/** `-` or `$` first: another option or a shell reference, never a secret flag's value (as `/^[-$]/.test`). */
const startsOption = (x: string): boolean => {
  const c = x.charCodeAt(0);
  return c === 0x2d || c === 0x24;
};

/** RFC 6901 escaping of one pointer segment. */
const segment = (k: string): string =>
  k.includes('~') || k.includes('/') ? k.replace(/~/g, '~0').replace(/\//g, '~1') : k;

/**
 * `value` with credentials masked, every changed string's JSON pointer (from `base`) pushed onto
 * `masked`. Three rules, in order:
 *   - a plain env value (under a key `env`: a map of name → string, or a list of {name, value}) is
 *     masked whole, whatever it looks like: env is where credentials go by habit;
 *   - in an argv-like list of strings, the element after a flag named like a secret
 *     (`--password`, `--api-key`, `-token`) is masked whole;
 *   - every other string (keys included) is masked where a CREDENTIAL_PATTERNS row matches;
 * `extra` (the running bundle's patterns, maskPatternsOf) widens the last two rules.
 */
export function maskValue(value: unknown, base: string, masked: string[], extra: MaskPatterns = FLOOR_ONLY): unknown {
  // The walked value's pointer as raw segments after `base`, escaped and joined only for what is
  // masked (issue 20: escaping every key of every record cost more than the rare pointer).
  const segments: string[] = [];
  const here = (): string => segments.reduce((p, s) => `${p}/${segment(s)}`, base);
  // Looked up once per walk: most keys and strings are known clean (maskedText's own first test).
  const clean = cleanTextsOf(extra);
  const text = (t: string): string => (clean.has(t) ? t : maskedText(t, extra));
  const walk = (v: unknown, parentKey?: string, lineHits?: ReadonlySet<number>): unknown => {
    if (typeof v === 'string') {
      const m = text(v);
      if (m === v) return v;
      masked.push(here());
      return m;
    }
    if (Array.isArray(v)) {
      if (parentKey === 'env') return v.map((e: unknown, i) => under(String(i), maskEnvEntry, e));
      return v.map((x: unknown, i) => {
        if (typeof x !== 'string') return under(String(i), walk, x);
        const previous: unknown = v[i - 1];
        // The word after a secret-named flag, unless it is another option or a shell reference (as secret-flag-value).
        if (
          x !== MASK &&
          ((typeof previous === 'string' && !startsOption(x) && isSecretFlag(previous, extra)) ||
            (lineHits?.has(i) === true && text(x) === x))
        ) {
          masked.push(`${here()}/${i}`);
          return MASK;
        }
        // A string as `walk` takes it, without the call (issue 20: most elements are clean strings).
        const m = text(x);
        if (m !== x) masked.push(`${here()}/${i}`);
        return m;
      });
    }
    if (typeof v === 'object' && v !== null) {
      const out: Record<string, unknown> = {};
      const record = v as Record<string, unknown>;
      // Most objects have neither list: no line to scan.
      const line = Array.isArray(record.command) || Array.isArray(record.args) ? commandLineHits(record) : undefined;
      for (const k of Object.keys(v)) {
        const x = record[k];
        // A key can carry a credential too (an env name is any C identifier: ghp_... is one).
        const maskedKey = text(k);
        let key = k;
        if (maskedKey !== k) {
          key = maskedKey;
          for (let n = 2; Object.hasOwn(out, key); n++) key = `${maskedKey}-${n}`;
        }
        segments.push(key);
        if (maskedKey !== k) masked.push(here());
        let value: unknown;
        if (typeof x !== 'string') value = walk(x, k, k === 'command' || k === 'args' ? line?.[k] : undefined);
        else if (parentKey === 'env') value = maskWhole(x);
        // A string as `walk` takes it, without the call (issue 20: most members are clean strings).
        else if ((value = text(x)) !== x) masked.push(here());
        segments.pop();
        // defineProperty: a "__proto__" key (JSON.parse makes it an own property) stays a key.
        if (key === '__proto__')
          Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
        else out[key] = value;
      }
      return out;
    }
    return v;
  };
  /** `body(x)` with `key` (raw) appended to the pointer. */
  const under = <X, T>(key: string, body: (x: X) => T, x: X): T => {
    segments.push(key);
    const r = body(x);
    segments.pop();
    return r;
  };
  const maskWhole = (x: string): string => {
    if (x !== MASK) masked.push(here());
    return MASK;
  };
  const maskEnvEntry = (e: unknown): unknown => {
    if (typeof e !== 'object' || e === null || Array.isArray(e)) return walk(e, undefined);
    const { value: plain, ...rest } = e as Record<string, unknown>;
    const restMasked = walk(rest, undefined) as Record<string, unknown>;
    return typeof plain === 'string'
      ? { ...restMasked, value: under('value', maskWhole, plain) }
      : { ...restMasked, ...(plain !== undefined ? { value: under('value', walk, plain) } : {}) };
  };
  return walk(value, undefined);
}

/** Fields of an audit entry that are ours, never user text, and not masked. */
const OWN_FIELDS = new Set([
  'decision_id',
  'timestamp',
  'stage',
  'outcome',
  'code',
  'runner',
  'labels',
  'masked',
  'erased',
  'metrics',
  'bundles',
]);

/**
 * An audit entry as it may be written: every field that can carry user text (message, input,
 * result, patch, pod, workflow, step, path) masked, and `masked` listing each masked JSON pointer
 * (merged with what the entry already listed, without duplicates). Apply before hashing. `extra`:
 * the running bundle's credential patterns on top of the floor (maskPatternsOf).
 */
export function maskEntry<E extends AuditEntry>(entry: E, extra: MaskPatterns = FLOOR_ONLY): E {
  const masked: string[] = [...(entry.masked ?? [])];
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(entry))
    out[k] = OWN_FIELDS.has(k) || v === undefined ? v : maskValue(v, `/${segment(k)}`, masked, extra);
  const unique = [...new Set(masked)];
  return (unique.length > 0 ? { ...out, masked: unique } : out) as E;
}

/**
 * The policy input as it may be written to the audit log: plain env values (which may hold
 * credentials) are replaced by "***", and credential-looking text anywhere (args, command, ...),
 * before hashing; their JSON pointers (from `/input`) listed in `masked`. Secret references keep
 * their names: they say which secret, never what is in it.
 */
export function maskInput(
  input: PolicyInput,
  extra: MaskPatterns = FLOOR_ONLY,
): { input: PolicyInput; masked: string[] } {
  const masked: string[] = [];
  const out = maskValue(input, '/input', masked, extra) as PolicyInput;
  return { input: out, masked: [...new Set(masked)] };
}
