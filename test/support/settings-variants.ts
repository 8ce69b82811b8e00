import { BAD_ENTRIES } from './image-refs.ts';

/**
 * The egress grammar of policy data (REDTEAM finding 9), one table run against the schema
 * (test/unit/settings.test.ts) and the Rego through the compiled WASM (test/policies/classes.test.ts).
 * Decisions: prefix 1..32 / 1..128 (a /0 is egress.allowAnyDestination, never an entry), octets at
 * most 255 and without leading zeros, host bits zero, IPv6 as hex groups with at most one "::" (no
 * embedded IPv4, no zone, not IPv4-mapped); hosts are DNS names with an optional leading "*." label, last label not
 * all digits.
 */
export const CIDR_CASES: readonly { cidr: string; valid: boolean }[] = [
  ...[
    '10.0.0.0/8',
    '10.20.0.0/16',
    '10.1.2.3/32',
    '192.168.0.0/16',
    '255.255.255.255/32',
    '0.0.0.0/1',
    '128.0.0.0/1',
    '100.64.0.0/10',
    '172.16.0.0/12',
  ].map((cidr) => ({ cidr, valid: true })),
  ...[
    '2001:db8::/32',
    '2001:DB8::/32',
    'fd00::/8',
    '::1/128',
    '1::/16',
    '1:2:3:4:5:6:7:8/128',
    '1:2:3:4:5:6:7::/112',
    '2001:db8:0:0:0:0:0:0/64',
    '8000::/1',
    'fe80::/10',
    // neighbours of IPv4-mapped space that are not it
    'ffff::/16',
    '::1:ffff:0:0/96',
    '2001:db8:abcd:12::/64',
  ].map((cidr) => ({ cidr, valid: true })),
  ...[
    // the reported examples, prefix length out of its family's bounds or zero
    '0.0.0.0/99',
    '10.0.0.0/33',
    '0.0.0.0/0',
    '::/0',
    '0::/0',
    '2001:db8::/129',
    '1.2.3.4/0',
    // octets, leading zeros, shape
    '256.0.0.0/8',
    '10.0.0.256/32',
    '010.0.0.0/8',
    '10.0.0.0/08',
    '10.0.0/8',
    '10.0.0.0.0/8',
    '10.0.0.0',
    '10.0.0.0/',
    ' 10.0.0.0/8',
    '10.0.0.0/8 ',
    '10.0.0.0/8\n',
    '1.2.3.4/-1',
    '1.2.3.4/+8',
    '١٠.0.0.0/8',
    // host bits set
    '10.0.0.1/8',
    '192.168.1.1/24',
    '2001:db8::1/64',
    '8000::/0',
    'fe80::1/10',
    // IPv6 shape
    '1::2::3/64',
    ':::/8',
    '1:2:3:4:5:6:7:8:9/128',
    '1:2:3:4:5:6:7/112',
    '12345::/16',
    'g::/16',
    '::ffff:1.2.3.4/128',
    // IPv4 space written as IPv6 (IPv4-mapped, ::ffff:0:0/96): the IPv4 CIDR is written instead
    '::ffff:a00:0/104',
    '::ffff:0:0/96',
    '0:0:0:0:0:ffff:c0a8:100/120',
    '::FFFF:a00:0/104',
    'fe80::1%eth0/128',
    ':1::/16',
    '1:/16',
    '1::/016',
    '',
  ].map((cidr) => ({ cidr, valid: false })),
];

export const HOST_CASES: readonly { host: string; valid: boolean }[] = [
  ...[
    'api.github.com',
    '*.amazonaws.com',
    'db',
    'db.internal',
    'A-1.example.COM',
    '*.com',
    'x.y1',
    'xn--bcher-kva.example',
    `${'a'.repeat(63)}.com`,
  ].map((host) => ({ host, valid: true })),
  ...[
    '...',
    '*.*.com',
    '*',
    '*.',
    'a..b',
    '.a',
    'a.',
    '-a.com',
    'a-.com',
    'a_b.com',
    'a.*.com',
    '**.com',
    '*a.com',
    'a*.com',
    '10.0.0.1',
    'a.123',
    'a b.com',
    'a/b',
    '[a].com',
    '{a,b}.com',
    '?.com',
    `${'a'.repeat(64)}.com`,
    Array.from({ length: 64 }, () => 'abcd').join('.'),
    'bücher.example',
    'a.com\n',
    '',
  ].map((host) => ({ host, valid: false })),
];

/**
 * The class (issue 14 §1): settings of the wrong type must never open anything. Every variant a
 * Helm --set-string, Argo CD forceString or a hand edit produces is refused with its path, before
 * a bundle is built or loaded. The same variants reach the compiled policy unchecked in
 * test/policies/settings.test.ts, where the Rego must still fail closed.
 */
export const WRONG_SETTINGS: readonly { name: string; settings: unknown; path: string }[] = [
  // string booleans (the reported example: allowAnyDestination "false" opened the internet)
  ...['false', 'true', '0', '1', '', 'no', 'FALSE'].map((v) => ({
    name: `egress.allowAnyDestination ${JSON.stringify(v)}`,
    settings: { egress: { allowAnyDestination: v } },
    path: 'kubiya.settings.egress.allowAnyDestination',
  })),
  {
    name: 'egress.allowWildcardHosts "true"',
    settings: { egress: { allowWildcardHosts: 'true' } },
    path: 'kubiya.settings.egress.allowWildcardHosts',
  },
  {
    name: 'privilege.allowHostPath "false"',
    settings: { privilege: { allowHostPath: 'false' } },
    path: 'kubiya.settings.privilege.allowHostPath',
  },
  {
    name: 'images.requireDigest "true"',
    settings: { images: { requireDigest: 'true' } },
    path: 'kubiya.settings.images.requireDigest',
  },
  {
    name: 'a flag as a number',
    settings: { egress: { allowAnyDestination: 0 } },
    path: 'kubiya.settings.egress.allowAnyDestination',
  },
  {
    name: 'a flag as null',
    settings: { privilege: { allowHostPath: null } },
    path: 'kubiya.settings.privilege.allowHostPath',
  },
  // numbers as strings, quantities as numbers
  { name: 'resources.maxGpu "1"', settings: { resources: { maxGpu: '1' } }, path: 'kubiya.settings.resources.maxGpu' },
  {
    name: 'volumes.maxVolumes "8"',
    settings: { volumes: { maxVolumes: '8' } },
    path: 'kubiya.settings.volumes.maxVolumes',
  },
  {
    name: 'resources.maxCpu 4 (a YAML number)',
    settings: { resources: { maxCpu: 4 } },
    path: 'kubiya.settings.resources.maxCpu',
  },
  {
    name: 'resources.maxMemory "8 Gi"',
    settings: { resources: { maxMemory: '8 Gi' } },
    path: 'kubiya.settings.resources.maxMemory',
  },
  { name: 'resources.maxGpu -1', settings: { resources: { maxGpu: -1 } }, path: 'kubiya.settings.resources.maxGpu' },
  { name: 'resources.maxGpu 1.5', settings: { resources: { maxGpu: 1.5 } }, path: 'kubiya.settings.resources.maxGpu' },
  {
    name: 'egress port "443"',
    settings: { egress: { allowed: [{ host: 'a.example.com', ports: ['443'] }] } },
    path: 'kubiya.settings.egress.allowed.0',
  },
  // enforcement actions (the reported examples)
  ...['Deny', 'dryrun', 'deny ', 'WARN', 'block', 'dry-run', '', 'allow'].map((a) => ({
    name: `enforcement action ${JSON.stringify(a)}`,
    settings: { enforcement: { IMAGE_TAG_NOT_PINNED: a } },
    path: 'kubiya.settings.enforcement.IMAGE_TAG_NOT_PINNED',
  })),
  {
    name: 'enforcement action null',
    settings: { enforcement: { IMAGE_TAG_NOT_PINNED: null } },
    path: 'kubiya.settings.enforcement.IMAGE_TAG_NOT_PINNED',
  },
  {
    name: 'enforcement key not a code',
    settings: { enforcement: { 'image tag': 'warn' } },
    path: 'kubiya.settings.enforcement.image tag',
  },
  // arrays where objects are expected, objects where arrays are, null
  {
    name: 'enforcement as an array',
    settings: { enforcement: ['IMAGE_TAG_NOT_PINNED'] },
    path: 'kubiya.settings.enforcement',
  },
  { name: 'images as an array', settings: { images: ['docker.io'] }, path: 'kubiya.settings.images' },
  { name: 'images null', settings: { images: null }, path: 'kubiya.settings.images' },
  {
    name: 'allowedRegistries a string',
    settings: { images: { allowedRegistries: 'docker.io' } },
    path: 'kubiya.settings.images.allowedRegistries',
  },
  {
    name: 'deniedImages a string',
    settings: { images: { deniedImages: 'docker.io/library/evil' } },
    path: 'kubiya.settings.images.deniedImages',
  },
  {
    name: 'requireRequests a string',
    settings: { resources: { requireRequests: 'cpu' } },
    path: 'kubiya.settings.resources.requireRequests',
  },
  {
    name: 'requireLimits an unknown resource',
    settings: { resources: { requireLimits: ['gpu'] } },
    path: 'kubiya.settings.resources.requireLimits.0',
  },
  { name: 'settings an array', settings: [], path: 'kubiya.settings' },
  { name: 'settings null', settings: null, path: 'kubiya.settings' },
  // unknown keys (typos that silently did nothing)
  { name: 'unknown top-level key', settings: { image: {} }, path: 'kubiya.settings' },
  {
    name: 'unknown key in a section',
    settings: { egress: { allowAnyDestinations: false } },
    path: 'kubiya.settings.egress',
  },
  {
    name: 'unknown key in an egress entry',
    settings: { egress: { allowed: [{ host: 'a.example.com', ports: [443], port: 80 }] } },
    path: 'kubiya.settings.egress.allowed.0',
  },
  // egress CIDRs and hosts outside the grammar (REDTEAM finding 9)
  ...CIDR_CASES.filter((c) => !c.valid).map((c) => ({
    name: `egress.allowed cidr ${JSON.stringify(c.cidr)}`,
    settings: { egress: { allowed: [{ cidr: c.cidr, ports: [443] }] } },
    path: 'kubiya.settings.egress.allowed.0.cidr',
  })),
  ...CIDR_CASES.filter((c) => !c.valid).map((c) => ({
    name: `egress.allowed pinned cidr ${JSON.stringify(c.cidr)}`,
    settings: { egress: { allowed: [{ host: 'api.github.com', ports: [443], cidrs: [c.cidr] }] } },
    path: 'kubiya.settings.egress.allowed.0.cidrs.0',
  })),
  ...HOST_CASES.filter((h) => !h.valid).map((h) => ({
    name: `egress.allowed host ${JSON.stringify(h.host)}`,
    settings: { egress: { allowed: [{ host: h.host, ports: [443] }] } },
    path: 'kubiya.settings.egress.allowed.0.host',
  })),
  // enforcement of a locked code (REDTEAM finding 8): guards and egress grants are always deny
  ...[
    'POLICY_SETTINGS_INVALID',
    'POLICY_SETTINGS_MISSING',
    'IMAGE_REFERENCE_INVALID',
    'EGRESS_ANY_DESTINATION',
    'EGRESS_NOT_ALLOWED',
    'EGRESS_WILDCARD_HOST',
  ].flatMap((code) =>
    ['warn', 'audit'].map((a) => ({
      name: `enforcement ${code}: ${a}`,
      settings: { enforcement: { [code]: a } },
      path: `kubiya.settings.enforcement.${code}`,
    })),
  ),
  // image entries that are not in the grammar
  ...BAD_ENTRIES.map((e) => ({
    name: `allowedRegistries entry ${JSON.stringify(e)}`,
    settings: { images: { allowedRegistries: [e] } },
    path: 'kubiya.settings.images.allowedRegistries.0',
  })),
  {
    name: 'deny entry with a tag',
    settings: { images: { deniedImages: ['evil:1.0'] } },
    path: 'kubiya.settings.images.deniedImages.0',
  },
  // credential patterns
  {
    name: 'credential pattern that is not a regex',
    settings: { secrets: { credentials: { values: [{ id: 'x', pattern: '(' }] } } },
    path: 'kubiya.settings.secrets.credentials.values.0.pattern',
  },
  {
    name: 'credential pattern with look-ahead (not RE2)',
    settings: { secrets: { credentials: { values: [{ id: 'x', pattern: 'a(?=b)' }] } } },
    path: 'kubiya.settings.secrets.credentials.values.0.pattern',
  },
  {
    name: 'credential pattern with \\A (RE2 only, not JavaScript)',
    settings: { secrets: { credentials: { values: [{ id: 'x', pattern: '\\A[a-z]+://[^:]+:[^@]+@' }] } } },
    path: 'kubiya.settings.secrets.credentials.values.0.pattern',
  },
  {
    name: 'credential pattern as a bare string',
    settings: { secrets: { credentials: { envNames: ['PASSWORD'] } } },
    path: 'kubiya.settings.secrets.credentials.envNames.0',
  },
];
