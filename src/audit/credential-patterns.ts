import { jsSource } from '../credentials/js-source.ts';
import { PATTERN_KEYWORDS } from '../credentials/keywords.ts';
import { linearTimeProblem } from '../credentials/linear-time.ts';

/**
 * Credentials never land in the permanent log (issue 14 §6). The audit log is hash-chained: what is
 * written can never be redacted later without breaking verification, so every record is masked
 * BEFORE it is hashed, and the JSON pointers of what was masked are listed in the record's
 * `masked` array (OPA's decision-log convention). The app logger uses the same patterns.
 *
 * THE PATTERN LIST (one table, exported; test/unit/mask.test.ts checks every row both ways). The
 * sources are RE2-compatible (no lookaround, no backreference) so the same list can drive a Rego
 * `regex.match` rule (a `secrets` policy) without translation; case-insensitive rows say so
 * instead of using inline flags.
 */
export interface CredentialPattern {
  /** Stable name, e.g. for a policy violation message. */
  readonly name: string;
  /** What it finds. */
  readonly description: string;
  /**
   * RE2/ECMAScript source. Group 1, when present, is kept (a prefix such as `Bearer `), and so is
   * group 2 (a suffix such as the `@` before a URL's host); the rest of the match is masked.
   */
  readonly source: string;
  readonly caseInsensitive: boolean;
}

export const CREDENTIAL_PATTERNS: readonly CredentialPattern[] = Object.freeze([
  {
    name: 'pem-private-key',
    description: 'a PEM private key block (also an unterminated one)',
    source: '(-----BEGIN[A-Z0-9 ]{0,64}PRIVATE KEY-----)[\\s\\S]*?(-----END[A-Z0-9 ]{0,64}PRIVATE KEY-----|$)',
    caseInsensitive: false,
  },
  {
    name: 'url-userinfo-password',
    description:
      "the password of a URL's userinfo (scheme://user:password@host; any character but / ? @ and space in the password)",
    source: '([A-Za-z][A-Za-z0-9+.-]{0,31}://[^\\s:/?#@]*:)[^\\s/?@]+(@)',
    caseInsensitive: false,
  },
  {
    name: 'url-key-userinfo',
    description: "a 32-hex-digit key as a URL's user (a Sentry DSN: https://<key>@o1.ingest.sentry.io/1)",
    source: '(://)[0-9a-fA-F]{32}(?::[0-9a-fA-F]{32})?(@)',
    caseInsensitive: false,
  },
  {
    name: 'authorization-header',
    description: 'the value of an Authorization header (any scheme)',
    source: '(authorization["\']?\\s*[:=]\\s*["\']?(?:(?:bearer|basic|token|digest|negotiate)\\s+)?)[^\\s"\',;]+',
    caseInsensitive: true,
  },
  {
    name: 'cookie-header',
    description: 'the value of a Cookie or Set-Cookie header',
    source: '((?:^|[^A-Za-z0-9-])(?:set-)?cookie["\']?[ \\t]{0,16}:[ \\t]{0,16}["\']?)[^\\s"\'$;][^"\'\\r\\n]*',
    caseInsensitive: true,
  },
  {
    name: 'bearer-token',
    description: 'a bearer token outside a header',
    source: '(\\bbearer\\s+)[A-Za-z0-9._~+/-]{16,}=*',
    caseInsensitive: true,
  },
  {
    name: 'basic-credentials',
    description: 'HTTP Basic credentials outside a header',
    source: '(\\bbasic\\s+)[A-Za-z0-9+/]{16,}={0,2}',
    caseInsensitive: true,
  },
  {
    name: 'aws-access-key-id',
    description: 'an AWS access key id',
    source: '\\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\\b',
    caseInsensitive: false,
  },
  {
    name: 'github-token',
    description: 'a GitHub token (classic, OAuth, app, refresh)',
    source: '\\bgh[pousr]_[A-Za-z0-9]{36,}',
    caseInsensitive: false,
  },
  {
    name: 'github-fine-grained-token',
    description: 'a GitHub fine-grained personal access token',
    source: '\\bgithub_pat_[A-Za-z0-9_]{22,}',
    caseInsensitive: false,
  },
  {
    name: 'gitlab-token',
    description: 'a GitLab token (personal, deploy, runner, trigger, OAuth, CI job)',
    source: '((?:^|[^A-Za-z0-9_-]))gl(?:pat|dt|rt|ptt|oas|cbt)-[A-Za-z0-9_-]{20,}',
    caseInsensitive: false,
  },
  {
    name: 'slack-token',
    description: 'a Slack token',
    source: '((?:^|[^A-Za-z0-9-]))xox[abposr]-[A-Za-z0-9-]{10,}',
    caseInsensitive: false,
  },
  {
    name: 'slack-webhook',
    description: 'the secret path of a Slack incoming webhook',
    source: '(hooks\\.slack\\.com/(?:services|workflows|triggers)/)[A-Za-z0-9_-]{4,}/[A-Za-z0-9/_-]{4,}',
    caseInsensitive: false,
  },
  {
    name: 'jwt',
    description: 'a JSON Web Token (compact JWS/JWE)',
    source: '((?:^|[^A-Za-z0-9_-]))eyJ[A-Za-z0-9_-]{5,}\\.eyJ[A-Za-z0-9_-]{5,}\\.[A-Za-z0-9_-]*',
    caseInsensitive: false,
  },
  {
    name: 'google-api-key',
    description: 'a Google API key',
    source: '\\bAIza[0-9A-Za-z_-]{35}\\b',
    caseInsensitive: false,
  },
  {
    name: 'stripe-secret-key',
    description: 'a Stripe secret or restricted key',
    source: '\\b[sr]k_live_[0-9A-Za-z]{16,}',
    caseInsensitive: false,
  },
  {
    name: 'mysql-password-option',
    description: 'the password of mysql/mariadb -p<password> (attached: -p alone prompts, -p <word> names a database)',
    source:
      '((?:^|[^A-Za-z0-9_.-])(?:mysql(?:dump|admin|import|show|check)?|mariadb(?:-dump|-admin)?)(?:[ \\t][^;&|\\r\\n]{0,512}?)??[ \\t]-p["\']?)[^\\s;&|$"\'][^\\s;&|"\']*',
    caseInsensitive: false,
  },
  {
    name: 'sshpass-password',
    description: 'the password of sshpass -p',
    source: '((?:^|[^A-Za-z0-9_.-])sshpass[ \\t]{1,16}-p[ \\t]{0,16}["\']?)[^\\s;&|$"\'-][^\\s;&|"\']*',
    caseInsensitive: false,
  },
  {
    name: 'curl-user-password',
    description: 'the password of curl -u/--user user:password',
    source:
      '((?:^|[^A-Za-z0-9_.-])curl(?:[ \\t][^;&|\\r\\n]{0,512}?)??[ \\t](?:-u|--user)[ \\t=]{0,16}["\']?[^\\s"\':$]{1,256}:)[^\\s"\'$][^\\s"\']*',
    caseInsensitive: false,
  },
  {
    name: 'secret-flag-value',
    description: 'the word after a secret-named flag on a command line (--password hunter2, --db-pass x, --api-key k)',
    source:
      '((?:^|\\s)--?(?:[A-Za-z0-9_.-]{0,128}(?:passw(?:or)?d|passphrase|secret|token|credentials?|(?:api|access|private|secret|signing|encryption)[_-]?key)|(?:[A-Za-z0-9_.-]{0,128}[_.-])?(?:pass|pwd))\\s+)[^\\s"\'$&;|<-][^\\s"\'&;|]*',
    caseInsensitive: true,
  },
  {
    name: 'secret-assignment',
    description:
      'a value assigned to a name that looks like a secret (PASSWORD=..., --token=..., "apiKey": "...", X-API-Key: ...)',
    source:
      '((?:passw(?:or)?d|passphrase|secret|token|credentials?|(?:api|access|private|secret|signing|encryption)[_-]?key|(?:^|[^a-z0-9])(?:pass|pwd))["\']?\\s*[:=]\\s*)(?:"[^"]*"|\'[^\']*\'|[^\\s"\'&;,*][^\\s"\'&;,]*)',
    caseInsensitive: true,
  },
]);

/** Names (of env variables, of command-line flags) whose value is a secret. RE2-compatible. */
export const SECRET_NAME = {
  source:
    '(?:passw(?:or)?d|passphrase|secret|token|credentials?|(?:api|access|private|secret|signing|encryption)[_-]?key)',
  caseInsensitive: true,
} as const;

/**
 * THE FLOOR AND THE BUNDLE. CREDENTIAL_PATTERNS above is the built-in floor: masking never depends
 * on a custom bundle to be safe (a bundle with no credential patterns masks exactly this). The
 * running bundle's `kubiya.settings.secrets.credentials` (policies/data.json by default, the list
 * SECRET_LITERAL denies with) is added on top: its `values` patterns mask their whole match in
 * every string, its `envNames` patterns make a command-line flag named like them (`--db-pass`)
 * mask the next argument. The union only ever masks more. test/unit/mask.test.ts keeps the two
 * lists honest: every default data.json sample is masked by the floor alone, and every floor row
 * is in the default data.json list except the deliberate differences named there (masking is
 * broader than denying: a false positive in the log hides a word, one in the policy blocks a run).
 */
export interface MaskPatterns {
  /**
   * Whole-match patterns (the bundle's `values`), compiled with the "g" flag; `keywords`: the
   * pattern's keywords when it is a default one (PATTERN_KEYWORDS), else undefined (always run).
   */
  readonly values: readonly {
    readonly id: string;
    readonly regex: RegExp;
    readonly keywords?: readonly string[] | undefined;
  }[];
  /** Flag-name patterns (the bundle's `envNames`), matched against a flag's name as an env name. */
  readonly names: readonly { readonly id: string; readonly regex: RegExp }[];
}

/** No extra patterns: the floor alone. */
export const FLOOR_ONLY: MaskPatterns = Object.freeze({ values: Object.freeze([]), names: Object.freeze([]) });

const compileList = (list: unknown): { id: string; regex: RegExp; keywords: readonly string[] | undefined }[] => {
  if (!Array.isArray(list)) return [];
  const out: { id: string; regex: RegExp; keywords: readonly string[] | undefined }[] = [];
  for (const p of list as unknown[]) {
    const { id, pattern } = (typeof p === 'object' && p !== null ? p : {}) as { id?: unknown; pattern?: unknown };
    if (typeof id !== 'string' || typeof pattern !== 'string') continue;
    try {
      // A pattern the settings schema would refuse as slow (linearTimeProblem) is skipped here too:
      // masking runs on the event loop. The floor still masks.
      if (linearTimeProblem(pattern) !== undefined) continue;
      const regex = new RegExp(jsSource(pattern), 'g');
      // A pattern that matches the empty string would "mask" between every character: skip it.
      if (!regex.test(''))
        out.push({
          id,
          regex,
          keywords: Object.hasOwn(PATTERN_KEYWORDS, pattern) ? PATTERN_KEYWORDS[pattern] : undefined,
        });
    } catch {
      // the settings schema refuses patterns that do not compile; the floor still masks
    }
  }
  return out;
};

const compiledFor = new WeakMap<object, MaskPatterns>();

/**
 * The bundle's credential patterns from a `kubiya.settings` object (the engine's, as the
 * PolicyStore checked and froze it), compiled once per settings object. Anything missing or
 * malformed contributes nothing: the floor still applies.
 */
export function maskPatternsOf(settings: unknown): MaskPatterns {
  if (typeof settings !== 'object' || settings === null) return FLOOR_ONLY;
  const cached = compiledFor.get(settings);
  if (cached !== undefined) return cached;
  const secrets = (settings as { secrets?: unknown }).secrets;
  const credentials =
    typeof secrets === 'object' && secrets !== null ? (secrets as { credentials?: unknown }).credentials : undefined;
  const c = (typeof credentials === 'object' && credentials !== null ? credentials : {}) as {
    envNames?: unknown;
    values?: unknown;
  };
  const patterns: MaskPatterns = Object.freeze({
    values: Object.freeze(compileList(c.values)),
    names: Object.freeze(compileList(c.envNames)),
  });
  compiledFor.set(settings, patterns);
  return patterns;
}

/**
 * Keywords of the floor's rows, a prefilter for speed: every string a row matches holds one of
 * its keywords once folded (foldForKeywords), so a row whose keywords are all absent is not run.
 * test/unit/mask.test.ts checks generated matches of every row hold a keyword.
 */
const SECRET_WORDS = ['pass', 'pwd', 'secret', 'token', 'credential', 'key'];
export const FLOOR_KEYWORDS: Readonly<Record<string, readonly string[]>> = Object.freeze({
  'pem-private-key': ['private key-----'],
  'url-userinfo-password': ['://'],
  'url-key-userinfo': ['://'],
  'authorization-header': ['authorization'],
  'cookie-header': ['cookie'],
  'bearer-token': ['bearer'],
  'basic-credentials': ['basic'],
  'aws-access-key-id': ['akia', 'asia', 'abia', 'acca'],
  'github-token': ['ghp_', 'gho_', 'ghu_', 'ghs_', 'ghr_'],
  'github-fine-grained-token': ['github_pat_'],
  'gitlab-token': ['glpat-', 'gldt-', 'glrt-', 'glptt-', 'gloas-', 'glcbt-'],
  'slack-token': ['xox'],
  'slack-webhook': ['hooks.slack.com/'],
  jwt: ['eyj'],
  'google-api-key': ['aiza'],
  'stripe-secret-key': ['k_live_'],
  'mysql-password-option': ['mysql', 'mariadb'],
  'sshpass-password': ['sshpass'],
  'curl-user-password': ['curl'],
  'secret-flag-value': SECRET_WORDS,
  'secret-assignment': SECRET_WORDS,
});
