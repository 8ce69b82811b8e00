// The egress destinations of policy settings (`egress.allowed`): the CIDR and host patterns shared with
// policies/kubiya/lib/net.rego, the checks the patterns cannot express, and their zod schemas.
// Used by the core settings schema (settings.ts).
import { z } from 'zod';

const port = z.int().min(1).max(65535);
export const ports = z.array(port).min(1).max(16);

/**
 * The same expressions as policies/kubiya/lib/net.rego (test/unit/settings.test.ts compares them;
 * one table of cases, test/support/settings-variants.ts, runs against both).
 */
export const IPV4_CIDR_PATTERN =
  '^(0|[1-9][0-9]{0,2})\\.(0|[1-9][0-9]{0,2})\\.(0|[1-9][0-9]{0,2})\\.(0|[1-9][0-9]{0,2})/([1-9]|[12][0-9]|3[0-2])$';
export const IPV6_CIDR_PATTERN = '^([0-9A-Fa-f:]{2,39})/([1-9]|[1-9][0-9]|1[01][0-9]|12[0-8])$';
export const HOST_PATTERN =
  '^(\\*\\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$';
const IPV4 = new RegExp(IPV4_CIDR_PATTERN);
const IPV6 = new RegExp(IPV6_CIDR_PATTERN);
const HOST = new RegExp(HOST_PATTERN);

/** The eight 16-bit groups of an IPv6 address (hex groups, at most one "::"; no embedded IPv4, no zone), or undefined. */
function ipv6Groups(a: string): number[] | undefined {
  const hex = (s: string): number[] | undefined => {
    if (s === '') return [];
    const parts = s.split(':');
    return parts.every((p) => /^[0-9A-Fa-f]{1,4}$/.test(p)) ? parts.map((p) => Number.parseInt(p, 16)) : undefined;
  };
  const halves = a.split('::');
  if (halves.length === 1) {
    const g = a === '' ? undefined : hex(a);
    return g?.length === 8 ? g : undefined;
  }
  if (halves.length !== 2) return undefined;
  const head = hex(halves[0]!);
  const tail = hex(halves[1]!);
  if (head === undefined || tail === undefined || head.length + tail.length > 7) return undefined;
  return [...head, ...Array<number>(8 - head.length - tail.length).fill(0), ...tail];
}

/**
 * Why `text` is not a CIDR of policy data, or undefined when it is one: IPv4 (four decimal octets
 * of at most 255, no leading zeros) or IPv6 (RFC 4291 hex groups with at most one "::"; embedded
 * IPv4, zones and IPv4-mapped addresses, ::ffff:0:0/96 (RFC 4291 §2.5.5.2, refused by Kubernetes'
 * NetworkPolicy validation, KEP-4858), refused), a prefix from 1 to 32 / 128 without leading zeros, and the host bits
 * zero ("10.0.0.1/8" is refused: did the author mean the /8 or the one address?). A prefix of 0
 * ("0.0.0.0/0", "::/0") is refused: anywhere is `egress.allowAnyDestination`, never a data entry.
 */
export function cidrProblem(text: string): string | undefined {
  const v4 = IPV4.exec(text);
  if (v4 !== null) {
    const octets = v4.slice(1, 5).map(Number);
    if (octets.some((o) => o > 255)) return 'an IPv4 octet is above 255';
    const address = ((octets[0]! * 256 + octets[1]!) * 256 + octets[2]!) * 256 + octets[3]!;
    return address % 2 ** (32 - Number(v4[5])) === 0
      ? undefined
      : 'host bits are set (write the network address, such as 10.0.0.0/8)';
  }
  const v6 = IPV6.exec(text);
  if (v6 !== null) {
    const groups = ipv6Groups(v6[1]!);
    if (groups === undefined) return 'not an IPv6 address (hex groups, at most one "::", no embedded IPv4 or zone)';
    if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff)
      return 'an IPv4-mapped IPv6 address (::ffff:…): write the IPv4 CIDR (Kubernetes refuses mapped addresses)';
    const prefix = Number(v6[2]);
    return groups.every((g, i) => g % 2 ** (16 - Math.max(0, Math.min(16, prefix - 16 * i))) === 0)
      ? undefined
      : 'host bits are set (write the network address, such as 2001:db8::/32)';
  }
  return /\/0$/.test(text)
    ? 'a prefix of 0 is anywhere: use egress.allowAnyDestination'
    : 'must be a CIDR such as 10.0.0.0/16 or 2001:db8::/32 (prefix 1-32 for IPv4, 1-128 for IPv6, no leading zeros)';
}

/**
 * Why `text` is not an egress host of policy data, or undefined: a DNS name of at most 253
 * characters (labels of letters, digits and inner hyphens, at most 63 each), optionally with one
 * leading "*." label (which matches one label); the last label is not all digits (an address is a
 * CIDR entry). Refused: "...", "*.*.com", "*", "a.*.com", "a_b.com", a trailing dot, "10.0.0.1".
 */
export function hostProblem(text: string): string | undefined {
  if (text.length > 253 || !HOST.test(text))
    return 'must be a DNS name such as api.github.com, optionally with one leading "*." label (*.amazonaws.com)';
  return /^[0-9]+$/.test(text.slice(text.lastIndexOf('.') + 1))
    ? 'an IP address is not a host: use a {cidr, ports} entry'
    : undefined;
}

/** A refinement that runs only on values of the right shape (the regex has already reported the others, once). */
const refined = (shape: RegExp, check: (s: string) => string | undefined) => (s: string, ctx: z.RefinementCtx) => {
  if (!shape.test(s)) return;
  const problem = check(s);
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
};
// The patterns render into the chart's JSON Schema (Helm checks the shape); the refinements (octets,
// host bits, an all-digit last label) run in TypeScript only.
const CIDR_SHAPE = new RegExp(`${IPV4_CIDR_PATTERN}|${IPV6_CIDR_PATTERN}`);
export const cidr = z
  .string()
  .min(1)
  .max(64)
  .regex(
    CIDR_SHAPE,
    'must be a CIDR such as 10.0.0.0/16 or 2001:db8::/32 (prefix 1-32 for IPv4, 1-128 for IPv6, no leading zeros; a prefix of 0 is egress.allowAnyDestination)',
  )
  .superRefine(refined(CIDR_SHAPE, cidrProblem));
export const host = z
  .string()
  .min(1)
  .max(253)
  .regex(HOST, 'must be a DNS name such as api.github.com, optionally with one leading "*." label (*.amazonaws.com)')
  .superRefine(refined(HOST, hostProblem));
