/**
 * Red team 15 (seen and left): `networkPolicy.controlPlane.cidrs` took `999.999.999.999/99` and
 * `:/1` (a pattern of digit runs and colons) and wrote them into the NetworkPolicy's
 * `ipBlock.cidr`, which the API server refuses at install, or reads as a range the operator did
 * not mean. The class: every CIDR-typed value the chart writes or passes on —
 * `networkPolicy.controlPlane.cidrs[]`, the `ipBlock.cidr` and `ipBlock.except[]` of
 * `networkPolicy.extraEgress[].to[]` / `extraIngress[].from[]`, and `policy.settings.egress.allowed[]`
 * `.cidr` / `.cidrs[]` (the runner writes those into each step's NetworkPolicy) — is one CIDR read
 * one way only, or `helm template|install|upgrade` fails naming the key:
 * - IPv4: four decimal octets 0-255 without leading zeros (`010.0.0.0/8` is octal to libc: the
 *   API server's strict validation, KEP-4858, refuses it), a prefix 0-32 without leading zeros;
 * - IPv6: hex groups with at most one `::`, no embedded IPv4 (`::ffff:10.0.0.0/104`) and no zone,
 *   a prefix 0-128;
 * - no host bits past the prefix (`10.0.0.1/8`: the /8 or the one address? — strict validation
 *   refuses it too) and no IPv4-mapped IPv6 (`::ffff:a00:0/104`, `::ffff:0:0/96`);
 * - nothing around it: white space, a trailing newline (Go's `$`, which helm's schema and
 *   `regexMatch` use, does not match before one), a second prefix, a list in one string.
 * - an `ipBlock.except[]` lies strictly inside its `cidr` (same family, longer prefix), as the
 *   API server requires.
 * The schema's `#/definitions/cidr` pattern refuses the shapes (controlPlane and the ipBlocks); the
 * templates' `kubiya-runner.checkCidr` repeats it for policy.settings (whose schema is generated from
 * the runner's) and adds the host-bit and IPv4-mapped checks a pattern cannot make.
 * Non-canonical IPv6 (`2001:DB8::/32`, groups not compressed) still renders: Kubernetes only warns
 * on it in these legacy fields.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chartWithValues } from '../support/chart-values.ts';

type Doc = {
  kind?: string;
  metadata?: { name?: string };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
};
const render = chartWithValues<Doc>('kubiya-chart-cidr-');

type Peer = { ipBlock?: { cidr: string; except?: string[] } };
type Rule = { to?: Peer[]; from?: Peer[] };
const runnerPolicy = (docs: Doc[]) =>
  docs.find((d) => d?.kind === 'NetworkPolicy' && d.metadata?.name === 'kubiya-runner-policy')!.spec as {
    egress: Rule[];
    ingress: Rule[];
  };
const ipBlocks = (rules: Rule[]) => rules.flatMap((r) => [...(r.to ?? []), ...(r.from ?? [])]).map((p) => p.ipBlock);
const settingsEgress = (docs: Doc[]) => {
  const cm = docs.find((d) => d?.kind === 'ConfigMap' && d.data?.['data.json'] !== undefined)!;
  return (JSON.parse(cm.data!['data.json']!) as { kubiya: { settings: { egress: { allowed: unknown[] } } } }).kubiya
    .settings.egress.allowed;
};

/** Each CIDR-typed key: its values, how the schema and the templates name it, and where it renders. */
const KEYS: {
  path: string;
  schemaPath: string;
  values: (v: unknown) => Record<string, unknown>;
  rendered: (docs: Doc[]) => unknown;
  /** A prefix of 0 is egress.allowAnyDestination in policy settings, never a data entry (the runner's rule). */
  zeroPrefix: boolean;
}[] = [
  {
    path: 'networkPolicy.controlPlane.cidrs[0]',
    schemaPath: '/networkPolicy/controlPlane/cidrs/0',
    values: (v) => ({ networkPolicy: { controlPlane: { cidrs: [v], ports: [443] } } }),
    rendered: (docs) => ipBlocks(runnerPolicy(docs).egress).findLast((b) => b !== undefined)?.cidr,
    zeroPrefix: true,
  },
  {
    path: 'networkPolicy.extraEgress[0].to[0].ipBlock.cidr',
    schemaPath: '/networkPolicy/extraEgress/0/to/0/ipBlock/cidr',
    values: (v) => ({ networkPolicy: { extraEgress: [{ to: [{ ipBlock: { cidr: v } }], ports: [{ port: 443 }] }] } }),
    rendered: (docs) => ipBlocks(runnerPolicy(docs).egress).findLast((b) => b !== undefined)?.cidr,
    zeroPrefix: true,
  },
  {
    path: 'networkPolicy.extraEgress[0].to[0].ipBlock.except[0]',
    schemaPath: '/networkPolicy/extraEgress/0/to/0/ipBlock/except/0',
    values: (v) => ({
      networkPolicy: {
        extraEgress: [
          {
            to: [{ ipBlock: { cidr: typeof v === 'string' && v.includes(':') ? '::/0' : '0.0.0.0/0', except: [v] } }],
          },
        ],
      },
    }),
    rendered: (docs) => ipBlocks(runnerPolicy(docs).egress).findLast((b) => b !== undefined)?.except?.[0],
    // An except equal to its cidr is refused by the API server (it must be a strict subset).
    zeroPrefix: false,
  },
  {
    path: 'networkPolicy.extraIngress[0].from[0].ipBlock.cidr',
    schemaPath: '/networkPolicy/extraIngress/0/from/0/ipBlock/cidr',
    values: (v) => ({ networkPolicy: { extraIngress: [{ from: [{ ipBlock: { cidr: v } }] }] } }),
    rendered: (docs) => ipBlocks(runnerPolicy(docs).ingress).findLast((b) => b !== undefined)?.cidr,
    zeroPrefix: true,
  },
  {
    path: 'policy.settings.egress.allowed[0].cidr',
    schemaPath: '/policy/settings/egress/allowed/0',
    values: (v) => ({ policy: { settings: { egress: { allowed: [{ cidr: v, ports: [443] }] } } } }),
    rendered: (docs) => (settingsEgress(docs)[0] as { cidr: string }).cidr,
    zeroPrefix: false,
  },
  {
    path: 'policy.settings.egress.allowed[0].cidrs[0]',
    schemaPath: '/policy/settings/egress/allowed/0',
    values: (v) => ({
      policy: { settings: { egress: { allowed: [{ host: 'example.com', ports: [443], cidrs: [v] }] } } },
    }),
    rendered: (docs) => (settingsEgress(docs)[0] as { cidrs: string[] }).cidrs[0],
    zeroPrefix: false,
  },
];

/** Values that are not one CIDR read one way, each with why. */
const REFUSED: [unknown, string][] = [
  ['999.999.999.999/99', 'the red team example: octets and prefix out of range'],
  ['256.0.0.0/8', 'octet 256'],
  ['10.0.0.256/32', 'last octet 256'],
  ['010.0.0.0/8', 'leading zero (octal to libc)'],
  ['10.00.0.0/16', 'leading zero in an inner octet'],
  ['10.0.0.0', 'no prefix'],
  ['10.0.0.0/', 'empty prefix'],
  ['10.0.0.0/33', 'IPv4 prefix 33'],
  ['10.0.0.0/-1', 'negative prefix'],
  ['10.0.0.0/08', 'prefix with a leading zero'],
  ['10.0.0.0/8 ', 'trailing space'],
  [' 10.0.0.0/8', 'leading space'],
  ['10.0.0.0/8\n', 'trailing newline'],
  ['10.0.0.0 /8', 'space before the prefix'],
  ['10.0.0/8', 'three octets'],
  ['10.0.0.0.0/8', 'five octets'],
  ['0x0a.0.0.0/8', 'hex octet'],
  ['10.0.0.0/8/8', 'two prefixes'],
  ['10.0.0.0/8,10.1.0.0/16', 'two CIDRs in one string'],
  ['10.0.0.1/8', 'IPv4 host bits set'],
  ['192.168.1.1/24', 'IPv4 host bits set in the last octet'],
  ['', 'empty'],
  [':::/64', 'three colons'],
  [':/1', 'one colon (red team 15)'],
  ['1::2::3/64', 'two "::"'],
  ['2001:db8::/129', 'IPv6 prefix 129'],
  ['2001:db8::/032', 'IPv6 prefix with a leading zero'],
  ['12345::/16', 'a group of five hex digits'],
  ['g::/16', 'not hex'],
  ['1:2:3:4:5:6:7:8:9/128', 'nine groups'],
  ['1:2:3:4:5:6:7/112', 'seven groups without "::"'],
  ['fe80::1%eth0/128', 'a zone'],
  ['[2001:db8::]/32', 'brackets'],
  ['::ffff:10.0.0.0/104', 'IPv4-mapped IPv6, dotted'],
  ['::ffff:a00:0/104', 'IPv4-mapped IPv6, hex'],
  ['::ffff:0:0/96', 'the IPv4-mapped range itself'],
  ['::10.0.0.0/104', 'embedded IPv4'],
  ['2001:db8::1/32', 'IPv6 host bits set'],
  ['fd00::/7', 'IPv6 host bit set in the first group (fd00 is not a /7 start)'],
  ['2001:db8::/32\n', 'IPv6 with a trailing newline'],
  [10, 'a number'],
];

/** CIDRs that render as given. */
const VALID = [
  '0.0.0.0/0',
  '10.0.0.0/8',
  '192.168.1.0/24',
  '203.0.113.7/32',
  '100.64.0.0/10',
  '::/0',
  'fd00::/8',
  '2001:db8::/32',
  '2001:DB8::/32',
  '2001:db8:0:0:0:0:0:0/32',
  'fe80::/10',
  '::1/128',
  '2001:db8:1:2:3:4:5:6/128',
  '1:2:3:4:5:6:7::/128',
];
const isZero = (v: string) => v.endsWith('/0');

for (const k of KEYS) {
  test(`${k.path}: every variant that is not one CIDR is refused naming the key`, async () => {
    const wrong: string[] = [];
    for (const [v, why] of REFUSED) {
      const r = await render(k.values(v));
      const named = !r.ok && (r.err.includes(`'${k.schemaPath}`) || r.err.includes(`${k.path}`));
      if (!named) wrong.push(`${JSON.stringify(v)} (${why}): ${r.ok ? 'rendered' : r.err.slice(0, 200)}`);
    }
    assert.deepEqual(wrong, []);
  });

  test(`${k.path}: valid CIDRs render exactly as given`, async () => {
    const wrong: string[] = [];
    for (const v of VALID.filter((c) => k.zeroPrefix || !isZero(c))) {
      const r = await render(k.values(v));
      if (!r.ok) wrong.push(`${v}: ${r.err.slice(0, 200)}`);
      else if (k.rendered(r.docs) !== v) wrong.push(`${v}: rendered ${JSON.stringify(k.rendered(r.docs))}`);
    }
    assert.deepEqual(wrong, []);
  });
}

test('the concrete case: 999.999.999.999/99 in networkPolicy.controlPlane.cidrs no longer renders into an ipBlock', async () => {
  const r = await render({ networkPolicy: { controlPlane: { cidrs: ['999.999.999.999/99'], ports: [443] } } });
  assert.equal(r.ok, false);
  assert.match(r.ok ? '' : r.err, /'\/networkPolicy\/controlPlane\/cidrs\/0'/);
});

test('the template check names the entry, the value and the rule (host bits, IPv4-mapped)', async () => {
  const host = await render({ networkPolicy: { controlPlane: { cidrs: ['10.0.0.0/8', '10.0.0.1/8'], ports: [443] } } });
  assert.match(
    host.ok ? '' : host.err,
    /networkPolicy\.controlPlane\.cidrs\[1\]: "10\.0\.0\.1\/8" has host bits set past the prefix/,
  );
  const mapped = await render({
    networkPolicy: { extraIngress: [{ from: [{ ipBlock: { cidr: '::ffff:a00:0/104' } }] }] },
  });
  assert.match(
    mapped.ok ? '' : mapped.err,
    /networkPolicy\.extraIngress\[0\]\.from\[0\]\.ipBlock\.cidr: "::ffff:a00:0\/104" is an IPv4-mapped IPv6 CIDR/,
  );
  const settings = await render({
    policy: { settings: { egress: { allowed: [{ cidr: '300.0.0.0/8', ports: [443] }] } } },
  });
  assert.match(settings.ok ? '' : settings.err, /policy\.settings\.egress\.allowed\[0\]\.cidr must be a CIDR/);
});

test('a peer without an ipBlock passes as given, and an ipBlock takes only cidr and except', async () => {
  const selector = await render({
    networkPolicy: { extraEgress: [{ to: [{ namespaceSelector: { matchLabels: { a: 'b' } } }] }] },
  });
  assert.ok(selector.ok, selector.ok ? '' : selector.err);
  const extra = await render({
    networkPolicy: { extraEgress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/8', exceptions: ['10.1.0.0/16'] } }] }] },
  });
  assert.equal(extra.ok, false);
  const none = await render({ networkPolicy: { extraEgress: [{ to: [{ ipBlock: { except: ['10.1.0.0/16'] } }] }] } });
  assert.equal(none.ok, false);
});

/**
 * The same install-time refusal for an except: the API server takes `ipBlock.except[]` only
 * strictly inside its `cidr` (same family, longer prefix, within the range).
 */
test('an ipBlock except outside its cidr, equal to it, wider, or of the other family is refused naming both', async () => {
  const block = (cidr: string, except: string) => ({
    networkPolicy: { extraEgress: [{ to: [{ ipBlock: { cidr, except: [except] } }] }] },
  });
  const wrong: string[] = [];
  for (const [cidr, except] of [
    ['10.0.0.0/8', '11.0.0.0/16'],
    ['10.0.0.0/8', '10.0.0.0/8'],
    ['10.0.0.0/16', '10.0.0.0/8'],
    ['10.0.0.0/8', 'fd00::/8'],
    ['::/0', '10.0.0.0/8'],
    ['2001:db8::/32', '2001:db9::/48'],
    ['2001:db8::/32', '2001:db8::/32'],
    ['0.0.0.0/0', '0.0.0.0/0'],
  ]) {
    const r = await render(block(cidr!, except!));
    const expected = `ipBlock.except[0]: "${except}" is not strictly inside networkPolicy.extraEgress[0].to[0].ipBlock.cidr "${cidr}"`;
    if (r.ok || !r.err.includes(expected))
      wrong.push(`${cidr} except ${except}: ${r.ok ? 'rendered' : r.err.slice(0, 200)}`);
  }
  assert.deepEqual(wrong, []);
  for (const [cidr, except] of [
    ['10.0.0.0/8', '10.1.0.0/16'],
    ['10.0.0.0/8', '10.255.255.255/32'],
    ['0.0.0.0/0', '0.0.0.0/1'],
    ['0.0.0.0/0', '169.254.169.254/32'],
    ['2001:db8::/32', '2001:db8:1::/48'],
    ['::/0', 'fd00::/8'],
  ]) {
    const r = await render(block(cidr!, except!));
    assert.ok(r.ok, `${cidr} except ${except}: ${r.ok ? '' : r.err}`);
  }
});

// Red team 16, finding 8: the CIDR checks read extraEgress[].to and extraIngress[].from, while the
// schema took both sides in every rule, so `from` in an egress rule (or `to` in an ingress one)
// carried an unchecked ipBlock (10.0.0.1/8 rendered). A rule takes its own side only.
for (const [key, side] of [
  ['extraEgress', 'from'],
  ['extraIngress', 'to'],
] as const)
  test(`networkPolicy.${key}[0].${side}: the other side's peers are refused naming the rule`, async () => {
    const r = await render({
      runner: { token: 't' },
      networkPolicy: { [key]: [{ [side]: [{ ipBlock: { cidr: '10.0.0.1/8' } }] }] },
    });
    assert.equal(r.ok, false);
    assert.match(r.ok ? '' : r.err, new RegExp(`/networkPolicy/${key}/0`));
  });
