import { z } from 'zod';
import { isZeroQuantity, quantityField } from '../units/units.ts';

/** Field types the configuration schema's sections (schema-<section>.ts, composed in schema.ts) share. */

/** A DNS label (RFC 1123): 1-63 lowercase alphanumerics or '-', alphanumeric at both ends. */
export const dnsLabel = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a DNS label');
/** A container's requests or limits as written (memory, cpu quantities). */
export const resourceList = z.strictObject({ memory: quantityField.optional(), cpu: quantityField.optional() });
/** A quantity that is not zero (zero would mean none). */
const nonZero = quantityField.refine((q) => !isZeroQuantity(q), 'must not be zero: a zero request or limit means none');
/**
 * A size limit that is not zero: an emptyDir `sizeLimit` of zero means no limit at all to the
 * kubelet (red team 17: `runner.storage.workspaceSize: "0"` gave every step an unbounded /workspace).
 */
export const sizeLimit = quantityField.refine(
  (q) => !isZeroQuantity(q),
  'must not be zero: a zero size limit means no limit at all',
);
/**
 * A bearer token as an HTTP header carries it (red team 18, finding 8): visible ASCII only,
 * U+0021 to U+007E. `fetch` refuses a header value with a character above U+00FF ("Cannot convert
 * argument to a ByteString"), so a runner token `tok€n` loaded, and then every control-plane
 * request failed while the pod looked Ready; Latin-1 letters, spaces and controls are no token
 * either (RFC 6750's b64token, `[A-Za-z0-9._~+/-]+=*`, is a subset; the bundle service's token
 * file is held to the same, src/adapters/bundle-poller.ts). Checked where the token is loaded,
 * never echoed: runner.token and RUNNER_TOKEN by the config schema, runner.tokenFile's content by
 * runnerToken (src/app/control-plane-link.ts); the chart's checkToken refuses the same at render.
 */
export const HEADER_TOKEN = /^[\x21-\x7e]+$/;
/** What a refused token is told (never the token). */
export const HEADER_TOKEN_RULE =
  'must be visible ASCII only (letters, digits and the marks ! to ~: no space, control character or non-ASCII character such as é or €): it is sent in the Authorization header, which carries nothing else';
/** runner.token: a token an HTTP header can carry (HEADER_TOKEN). */
export const headerToken = z.string().min(1).regex(HEADER_TOKEN, HEADER_TOKEN_RULE);

/** runner.workflow.defaultResources' requests or limits: non-zero quantities. */
export const defaultList = z.strictObject({ memory: nonZero.optional(), cpu: nonZero.optional() });

/**
 * An http(s) URL as a person writes it in a config file: at most 2048 characters, no white space,
 * backslash (WHATWG reads `\` as `/` in http URLs, other parsers do not) or control character anywhere (the WHATWG parser would percent-encode or drop them, so the
 * runner would call another URL than the one reviewed), and no userinfo (`user:password@`): a
 * credential in a URL lands in a ConfigMap, in logs and in error messages (red-team 2026-11-30,
 * finding 7); the bundle service takes a bearer token from a file instead
 * (policy.service.bearerTokenFile).
 */
export const httpUrl = (): z.ZodURL =>
  z
    .url({ protocol: /^https?$/ })
    .max(2048)
    .regex(
      // eslint-disable-next-line no-control-regex -- the point is to refuse control characters
      /^[^\s\\\u0000-\u001f\u007f-\u009f]*$/,
      'must not contain white space, a backslash (URL parsers disagree on it) or control characters',
    )
    .refine((u) => URL.canParse(u) && new URL(u).username === '' && new URL(u).password === '', {
      message: 'no user:password@ in a URL (it would sit in a ConfigMap and in logs); use a token file',
    });

/**
 * True for an https URL (or one that does not parse: its field reports that), and for an http URL whose host is loopback (`localhost`, 127.0.0.0/8,
 * `[::1]`): traffic that never leaves the machine. The WHATWG URL parser has normalised the host
 * (`127.1` is `127.0.0.1`, `LOCALHOST` is `localhost`, `0x7f.1` is `127.0.0.1`).
 */
export function isSecureTransport(url: string): boolean {
  // URL.parse, not new URL: zod runs this refinement even when the field's own check failed.
  const u = URL.parse(url);
  if (u === null || u.protocol === 'https:') return true;
  return u.hostname === 'localhost' || u.hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(u.hostname);
}
