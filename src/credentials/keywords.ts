/**
 * Keywords of the DEFAULT credential patterns (policies/data.json), keyed by each pattern's exact
 * text: every string a pattern matches holds at least one of its keywords once folded
 * (foldForKeywords). A prefilter, for speed only: a pattern whose keywords are all absent from a
 * text cannot match it, so it is not run. A pattern without an entry (an operator's own, or a
 * default edited by one character) is always run. The same table as the policy's
 * (policies/kubiya/rules/secrets/prefilter_keywords.rego); test/policies/prefilter-keywords.test.ts
 * keeps the two equal and checks generated matches of every pattern hold a keyword.
 */
export const PATTERN_KEYWORDS: Readonly<Record<string, readonly string[]>> = Object.freeze({
  '(?i:(^|[ \\t])--?([A-Za-z0-9_.-]{0,128}(passw(or)?d|passphrase|secret|token|credentials?|(api|access|private|secret|signing|encryption)[_-]?key)|([A-Za-z0-9_.-]{0,128}[_.-])?(pass|pwd))[ \\t]+[^ \\t\\r\\n"\'$&;|<-])':
    ['pass', 'pwd', 'secret', 'token', 'credential', 'key'],
  '(?i:(^|[^A-Za-z0-9-])(set-)?cookie["\']?[ \\t]{0,16}:[ \\t]{0,16}["\']?[^ \\t\\r\\n"\'$;=]{1,256}=[^ \\t\\r\\n"\'$;])':
    ['cookie'],
  '(?i:(^|_)(session_?)?cookie[0-9]*$)': ['cookie'],
  '(?i:(encryption|signing|master|hmac|session|crypt|cipher|jwt|license)_?key([0-9]*$|_))': ['key'],
  '(?i:(passw(or)?d|passphrase)([0-9]*$|_)|(^|_)(pass|pwd)([0-9]*$|_))': ['pass', 'pwd'],
  '(?i:(passw(or)?d|passphrase|secret|token|credentials?|(api|access|private|secret|signing|encryption)[_-]?key|(^|[^a-z0-9])(pass|pwd))["\']?[ \\t]*[:=][ \\t]*["\']?[^ \\t\\r\\n"\'$&;|,*<>{}()/-])':
    ['pass', 'pwd', 'secret', 'token', 'credential', 'key'],
  '(?i:(token|bearer)([0-9]*$|_)|(^|_)pat([0-9]*$|_))': ['token', 'bearer', 'pat'],
  '(?i:access_?key([0-9]*$|_))': ['accesskey', 'access_key'],
  '(?i:api_?key([0-9]*$|_))': ['apikey', 'api_key'],
  '(?i:authorization["\']?[ \\t]*[:=][ \\t]*["\']?(bearer|basic|token|digest|negotiate)[ \\t]+[^ \\t\\r\\n$"\'])': [
    'authorization',
  ],
  '(?i:bearer)[ \\t]+[A-Za-z0-9._~+/-]{16,}=*': ['bearer'],
  '(?i:credentials?([0-9]*$|_))': ['credential'],
  '(?i:private_?key([0-9]*$|_))': ['privatekey', 'private_key'],
  '(?i:secret([0-9]*$|_))': ['secret'],
  '(^|[^A-Za-z0-9])(AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}([^A-Za-z0-9]|$)': ['akia', 'asia', 'abia', 'acca'],
  '(^|[^A-Za-z0-9])xox[abposr]-[A-Za-z0-9-]{10,}': ['xox'],
  '(^|[^A-Za-z0-9_-])AIza[0-9A-Za-z_-]{35}([^A-Za-z0-9_-]|$)': ['aiza'],
  '(^|[^A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{5,}\\.eyJ[A-Za-z0-9_-]{5,}\\.[A-Za-z0-9_-]*': ['eyj'],
  '(^|[^A-Za-z0-9_-])gl(pat|dt|rt|ptt|oas|cbt)-[A-Za-z0-9_-]{20,}': [
    'glpat-',
    'gldt-',
    'glrt-',
    'glptt-',
    'gloas-',
    'glcbt-',
  ],
  '(^|[^A-Za-z0-9_.-])(mysql(dump|admin|import|show|check)?|mariadb(-dump|-admin)?)([ \\t][^;&|\\r\\n]{0,512})?[ \\t]-p["\']?[^ \\t\\r\\n;&|$"\']':
    ['mysql', 'mariadb'],
  '(^|[^A-Za-z0-9_.-])curl([ \\t][^;&|\\r\\n]{0,512})?[ \\t](-u|--user)[ \\t=]{0,16}["\']?[^ \\t\\r\\n"\':$]{1,256}:[^ \\t\\r\\n"\'$]':
    ['curl'],
  '(^|[^A-Za-z0-9_.-])sshpass[ \\t]{1,16}-p[ \\t]{0,16}["\']?[^ \\t\\r\\n;&|$"\'-]': ['sshpass'],
  '(^|[^A-Za-z0-9_])(gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})': [
    'ghp_',
    'gho_',
    'ghu_',
    'ghs_',
    'ghr_',
    'github_pat_',
  ],
  '(^|[^A-Za-z0-9_])[sr]k_live_[0-9A-Za-z]{16,}': ['k_live_'],
  '-----BEGIN ([A-Z0-9]{1,32} ){0,4}PRIVATE KEY-----': ['private key-----'],
  '://[0-9a-fA-F]{32}(:[0-9a-fA-F]{32})?@': ['://'],
  '[A-Za-z][A-Za-z0-9+.-]{0,31}://[^/?#@ \\t\\r\\n:]*:[^/?@ \\t\\r\\n$][^/?@ \\t\\r\\n]*@': ['://'],
  'hooks\\.slack\\.com/(services|workflows|triggers)/[A-Za-z0-9_-]{4,}/[A-Za-z0-9/_-]{4,}': ['hooks.slack.com/'],
});

/**
 * `text` as keywords are looked for in it: lower case, after the two non-ASCII letters a
 * case-insensitive RE2 match folds onto ASCII letters (U+017F long s → s, U+212A Kelvin sign → k).
 */
export const foldForKeywords = (text: string): string =>
  text
    .replace(/\u017f/g, 's')
    .replace(/\u212a/g, 'k')
    .toLowerCase();

/** Whether folded text holds one of `keywords` (undefined: no keywords known, the pattern must run). */
export const mayMatch = (keywords: readonly string[] | undefined, folded: string): boolean =>
  keywords === undefined || keywords.some((k) => folded.includes(k));
