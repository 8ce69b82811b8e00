import { createPrivateKey } from 'node:crypto';

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

/**
 * The chart's own test of a `policy.verificationKeys` entry (templates/_helpers.tpl
 * checkVerificationKeys, on Go's toString of the entry; `(?i)` applies to the whole pattern).
 */
const CHART_PRIVATE = /PRIVATE KEY|"(?:d|p|q|dp|dq|qi|k)"\s*:/i;
/** The bodies of PEM blocks, whatever their label (`-----BEGIN PUBLIC KEY-----` over a PKCS#8 body included). */
const PEM_BODY = /-----BEGIN [^\n-]{1,64}-----([\s\S]*?)-----END /g;
/** A string that may be base64 (or base64url) of key material: what `!!binary` or `base64 -w0` makes. */
const BASE64_TEXT = /^[\sA-Za-z0-9+/=_-]{16,}$/;

/** DER bytes that parse as a private key in one of the encodings OpenSSL and Node write. */
function derIsPrivate(der: Buffer): boolean {
  for (const type of ['pkcs8', 'pkcs1', 'sec1'] as const) {
    try {
      createPrivateKey({ key: der, format: 'der', type });
      return true;
    } catch {
      // not this encoding
    }
  }
  return false;
}

/**
 * Whether a string where a public key belongs holds private key material in any form the chart
 * or the runner would take: what holdsPrivateKey finds, what the chart's own pattern finds (also
 * in a JWK inside other text), a PEM block of any label whose body is a private key (the chart
 * takes a PKCS#8 body under `BEGIN PUBLIC KEY`), and the same inside base64 of the string.
 */
function textHoldsPrivateKey(text: string, depth = 0): boolean {
  if (holdsPrivateKey(text) || CHART_PRIVATE.test(text)) return true;
  for (const [, body] of text.matchAll(PEM_BODY))
    if (derIsPrivate(Buffer.from(body!.replace(/[^A-Za-z0-9+/=]/g, ''), 'base64'))) return true;
  if (depth > 0 || !BASE64_TEXT.test(text)) return false;
  const bytes = Buffer.from(text.replace(/\s/g, ''), 'base64');
  return derIsPrivate(bytes) || textHoldsPrivateKey(bytes.toString('utf8'), depth + 1);
}

/**
 * Whether `value` — a `policy.verificationKeys` entry as helm read it (JSON: a string, or a JWK
 * pasted as a YAML/JSON mapping, a list...) — holds private key material: a string as
 * textHoldsPrivateKey reads it, a mapping with a private JWK member, at any depth (a JWKS `keys`
 * list), and every string and mapping key inside. Iterative: the depth of the value costs no stack.
 */
export function valueHoldsPrivateKey(value: unknown): boolean {
  const todo: unknown[] = [value];
  while (todo.length > 0) {
    const v = todo.pop();
    if (typeof v === 'string') {
      if (textHoldsPrivateKey(v)) return true;
    } else if (Array.isArray(v)) {
      for (const item of v) todo.push(item);
    } else if (typeof v === 'object' && v !== null) {
      if (JWK_PRIVATE_MEMBERS.some((m) => Object.hasOwn(v, m))) return true;
      for (const [k, item] of Object.entries(v)) todo.push(k, item);
    }
  }
  return false;
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
