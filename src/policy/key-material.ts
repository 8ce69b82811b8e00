/**
 * Key material in text we did not write: a private key given where a public one belongs, and PEM
 * bodies or JWK private members inside a message we relay (helm's values-schema errors echo the
 * offending value whole; opa's errors may quote a file). Pure functions, no I/O.
 */

/** Members of a JWK that only a private key has (RFC 7518: EC/OKP `d`, RSA `d p q dp dq qi oth`, oct `k`). */
const JWK_PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;

/** A PEM label naming private key material: PRIVATE KEY, EC/RSA/DSA/OPENSSH/ENCRYPTED PRIVATE KEY, ANY PRIVATE KEY. */
const PRIVATE_LABEL = /-----BEGIN[ A-Z0-9]*PRIVATE KEY[ A-Z0-9]*-----/i;

/**
 * Whether `text` (a key file's content) holds private key material: any PEM block whose label
 * names a PRIVATE KEY (anywhere in the file, also after a public block), or a JSON Web Key — alone,
 * or in a JWKS `keys` list — with a private member. A public key file never does.
 */
export function holdsPrivateKey(text: string): boolean {
  if (PRIVATE_LABEL.test(text)) return true;
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return false;
  }
  const jwks = typeof doc === 'object' && doc !== null && 'keys' in doc && Array.isArray(doc.keys) ? doc.keys : [doc];
  return jwks.some(
    (k: unknown) => typeof k === 'object' && k !== null && JWK_PRIVATE_MEMBERS.some((m) => Object.hasOwn(k, m)),
  );
}

/** PEM blocks, also unterminated and also with their line breaks escaped (`\n` as two characters, as Go's %q prints). */
const PEM_BLOCK = /(-----BEGIN [A-Z0-9 ]{1,64}-----)[\s\S]*?(-----END [A-Z0-9 ]{1,64}-----|$)/g;
/** A JSON member with a private JWK name, its value a string: `"d": "..."` (quotes possibly escaped). */
const JWK_MEMBER = /(\\?"(?:d|p|q|dp|dq|qi|k)\\?"\s*:\s*\\?")[A-Za-z0-9_\-+/=]{8,}/g;
/**
 * A long run of base64 characters (key material in any other shape: a DER blob, a bare body
 * line). A file path is such a run too (`/home/runner/work/org/repo/policies/kubiya/rules/x/x_test`):
 * one with a `/` in every 20 characters or more is a path and stays (random base64 has one in 64).
 */
const LONG_BASE64 = /[A-Za-z0-9+/=_-]{64,}/g;
/** The userinfo of a URL (`scheme://user:password@`): masked to `scheme://[masked]@`. */
const URL_USERINFO = /\b([A-Za-z][A-Za-z0-9+.-]*:\/\/)[^\s/?#@'"]*@/g;
const looksLikePath = (run: string): boolean => run.split('/').length - 1 >= run.length / 20;

/**
 * `text` with every piece of key material replaced: a PEM block's body (its BEGIN/END labels
 * kept, so the message still says what was there; an unterminated block is masked to the end),
 * private JWK members' values, base64 runs of 64 characters or more, and a URL's
 * `user:password@` (`https://[masked]@host/…`). For stderr of helm and opa that a command relays.
 */
export function maskKeyMaterial(text: string): string {
  return text
    .replace(URL_USERINFO, '$1[masked]@')
    .replace(PEM_BLOCK, (_m, begin: string, end: string) => `${begin} [masked] ${end}`.trimEnd())
    .replace(JWK_MEMBER, '$1[masked]')
    .replace(LONG_BASE64, (run) => (looksLikePath(run) ? run : '[masked]'));
}
