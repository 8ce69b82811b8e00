import { jsSource } from './js-source.ts';

/**
 * The credential patterns of `kubiya.settings.secrets.credentials` as JavaScript regular
 * expressions. ONE list serves both: the Rego rule SECRET_LITERAL (policies/kubiya/rules/secrets,
 * RE2 via regex.match) and the masking of audit records and log lines (src/audit/mask.ts). The
 * canonical default list is policies/data.json (the chart's values.yaml carries the same list;
 * test/unit/settings.test.ts keeps them equal). Patterns are written in the common subset of RE2
 * and ECMAScript: no look-around, no back-references, case-insensitivity only as `(?i:...)`
 * groups, `[ \t]` rather than `\s` (whose meaning differs between the two engines).
 *
 * Shape:
 *   { envNames: [{ id, pattern }], values: [{ id, pattern }] }
 *   envNames: matched (unanchored) against env variable NAMES whose value is a literal string;
 *   values:   matched (unanchored) against env values, command and args, and any string to mask.
 */
export interface CredentialPattern {
  readonly id: string;
  /** Compiled with the "g" flag for masking; reset lastIndex (or use String.replace) between uses. */
  readonly regex: RegExp;
}

export interface CredentialPatterns {
  readonly envNames: readonly CredentialPattern[];
  readonly values: readonly CredentialPattern[];
}

function compile(list: unknown): CredentialPattern[] {
  if (!Array.isArray(list)) return [];
  const out: CredentialPattern[] = [];
  for (const p of list as unknown[]) {
    if (typeof p !== 'object' || p === null) continue;
    const { id, pattern } = p as { id?: unknown; pattern?: unknown };
    if (typeof id !== 'string' || typeof pattern !== 'string') continue;
    try {
      out.push({ id, regex: new RegExp(jsSource(pattern), 'g') });
    } catch {
      // the settings schema refuses patterns that do not compile; nothing to mask with here
    }
  }
  return out;
}

/** The compiled patterns of a `kubiya.settings` object (missing or malformed parts: no patterns). */
export function credentialPatterns(settings: unknown): CredentialPatterns {
  const secrets =
    typeof settings === 'object' && settings !== null ? (settings as { secrets?: unknown }).secrets : undefined;
  const credentials =
    typeof secrets === 'object' && secrets !== null ? (secrets as { credentials?: unknown }).credentials : undefined;
  const c =
    typeof credentials === 'object' && credentials !== null
      ? (credentials as { envNames?: unknown; values?: unknown })
      : {};
  return Object.freeze({ envNames: compile(c.envNames), values: compile(c.values) });
}

/** Ids of the value patterns that match `text` (empty: no credential seen). */
export function credentialHits(patterns: readonly CredentialPattern[], text: string): string[] {
  return patterns
    .filter((p) => {
      p.regex.lastIndex = 0;
      return p.regex.test(text);
    })
    .map((p) => p.id);
}
