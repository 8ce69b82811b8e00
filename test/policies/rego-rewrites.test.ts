/**
 * The Rego rewritten for speed (issue #20) decides exactly as the Rego it replaced.
 *
 * The class: a rewrite of a check that moves a bound out of a regex into Rego, or replaces a
 * regex or `sprintf` with string builtins, can silently widen or narrow what passes. The variants
 * are every bound that moved, at and around its limit:
 * - image references: tags of 127/128/129 characters; digests of each algorithm with the hex
 *   lengths of every algorithm (±1), upper-case hex; registry ports 0, 00, 1, 443, 0443, 65535,
 *   65536, 99999, 123456; docker.io names of 63/64/65 hex digits, with and without `library/`;
 * - image entries (same helpers: port and registry checks);
 * - hosts: labels of 1, 62, 63 and 64 characters, with "*.", hyphens at the edges, digit-only TLDs;
 * - IPv6 CIDRs: groups of 0 to 5 hex digits, either case, non-hex characters.
 * And the second round (issue #20 §2, RE2 compiles and suffix scans per evaluation):
 * - image entries checked with the reference pattern on `e + "/x"` instead of the entry pattern:
 *   upper case, ports, empty and doubled components, separators, tags, digests, non-ASCII;
 * - hosts checked with string tests instead of host_pattern (the same host variants, plus case,
 *   non-ASCII and whitespace);
 * - allowed-host globs matched with string tests instead of glob.match: every valid pattern
 *   against hosts with 0, 1 and 2 extra labels, empty labels, stars, other suffixes;
 * - quantities parsed by one suffix lookup instead of trying each suffix: every suffix, none, two,
 *   numbers with 0/1/2 dots, empty parts, signs, exponents, numbers (not strings);
 * - image references split with string tests instead of the reference pattern (groups compared
 *   with the pattern's own): every separator run in a component (".", "..", "._", "__", "___",
 *   "-_", "--"...) first, inner and last, upper case, domain labels with edge hyphens, ports with
 *   and without digits, tags starting with ".", "-", "_", two ":" and two "@", digests of every
 *   algorithm and none, non-ASCII, whitespace, empty parts.
 * test/policies/rego-before-rewrite/ holds the library files as they were before the rewrite
 * (package `original`, unchanged otherwise); a probe bundle evaluates both on the same generated
 * strings through the compiled WASM.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { wasmCapabilities } from '../../src/adapters/opa-cli.ts';
import { loadEngine, readBundle } from '../../src/adapters/opa-wasm.ts';
import { REPO_ROOT, resolveTools } from '../../src/adapters/tools.ts';
import type { PolicyEngine } from '../../src/evaluate/policy-engine.ts';

const run = promisify(execFile);
const tools = resolveTools(['opa']);
if (!tools.ok) throw new Error(tools.error.message);
const opa = tools.value.opa;

const PROBE = [
  'package probe',
  'import data.kubiya.lib',
  'import data.original',
  'refs_now := {x: p | some x in input.strings; p := lib.parse_image(x)}',
  'refs_was := {x: p | some x in input.strings; p := original.parse_image(x)}',
  'entries_now := {x: p | some x in input.strings; p := lib.parse_image_entry(x)}',
  'entries_was := {x: p | some x in input.strings; p := original.parse_image_entry(x)}',
  'hosts_now := {h | some h in input.strings; lib.valid_host(h)}',
  'hosts_was := {h | some h in input.strings; original.valid_host(h)}',
  'cidrs_now := {c | some c in input.strings; lib.valid_cidr(c)}',
  'cidrs_was := {c | some c in input.strings; original.valid_cidr(c)}',
  'covers_now := {[p, h] | some p in input.patterns; some h in input.strings; lib.host_covers(lower(p), lower(h))}',
  'covers_was := {[p, h] | some p in input.patterns; some h in input.strings; glob.match(lower(p), ["."], lower(h))}',
  // Numbers as text (json.marshal keeps a number's spelling, and "01" is not JSON for the SDK to parse).
  'parts_now := {x: p | some x in input.strings; p := lib.reference_parts(x)}',
  'parts_was := {x: p | some x in input.strings; p := regex.find_all_string_submatch_n(lib.image_reference_pattern, x, 1)[0]}',
  'quantities_now := {json.marshal(q): json.marshal(n) | some q in input.values; n := lib.quantity(q)}',
  'quantities_was := {json.marshal(q): json.marshal(n) | some q in input.values; n := original.quantity(q)}',
  '',
].join('\n');

const pick = <T>(xs: readonly T[]) => fc.constantFrom(...xs);
/** Half of the draws from `common` (spellings that parse), half from every variant. */
const mostly = <T>(common: readonly T[], all: readonly T[]) => fc.oneof(pick(common), pick(all));
const hex = (n: number, digits = '0123456789abcdef') => Array.from({ length: n }, (_, i) => digits[i % 16]).join('');

const REGISTRIES = ['', 'ghcr.io/', 'localhost/', 'Registry/', 'docker.io/', 'index.docker.io/', 'GHCR.IO/'];
const PORTS = ['', ':0', ':00', ':1', ':443', ':0443', ':65535', ':65536', ':99999', ':123456', ':5000'];
const NAMES = ['alpine', 'library/alpine', 'acme/tool', hex(63), hex(64), hex(65), `library/${hex(64)}`, 'Acme/x', ''];
const TAGS = [
  '',
  ':1',
  ':v1.2-rc_3',
  `:${'t'.repeat(127)}`,
  `:${'t'.repeat(128)}`,
  `:${'t'.repeat(129)}`,
  ':.x',
  ':-x',
];
const DIGESTS = [
  '',
  ...['sha256', 'sha384', 'sha512', 'sha1', 'SHA256'].flatMap((alg) =>
    [63, 64, 65, 95, 96, 97, 127, 128, 129].map((n) => `@${alg}:${hex(n)}`),
  ),
  `@sha256:${hex(64, '0123456789ABCDEF')}`,
];

const imageRefs = (): string[] =>
  fc.sample(
    fc
      .tuple(
        pick(REGISTRIES),
        mostly(['', ':5000'], PORTS),
        mostly(['alpine', 'acme/tool'], NAMES),
        mostly(['', ':1'], TAGS),
        mostly(['', `@sha256:${hex(64)}`, `@sha384:${hex(96)}`, `@sha512:${hex(128)}`], DIGESTS),
      )
      .map(([r, p, n, t, d]) => (r === '' ? `${n}${t}${d}` : `${r.slice(0, -1)}${p}/${n}${t}${d}`)),
    { numRuns: 1500, seed: 20 },
  );

const label = (n: number) => (n === 1 ? 'a' : `a${'b-'.repeat(n).slice(0, n - 2)}c`);
const hosts = (): string[] =>
  fc.sample(
    fc
      .tuple(
        pick(['', '*.', '*', '-']),
        fc.array(pick([label(1), label(62), label(63), label(64), '-a', 'a-', 'a_b', 'x1', '']), {
          minLength: 1,
          maxLength: 4,
        }),
        pick(['com', '123', 'io', '']),
      )
      .map(([star, ls, tld]) => `${star}${[...ls, tld].filter((x, i, a) => x !== '' || i < a.length - 1).join('.')}`),
    { numRuns: 800, seed: 21 },
  );

const cidrs = (): string[] =>
  fc.sample(
    fc
      .tuple(
        fc.array(pick(['', '0', 'f', 'F00', 'abcd', 'ABCD', '12345', 'g1', '0000']), { minLength: 1, maxLength: 9 }),
        pick([':', '::']),
        pick(['/16', '/64', '/128', '/0', '/129']),
      )
      .map(([groups, sep, prefix]) => `${groups.join(sep === '::' ? ':' : sep)}${sep === '::' ? '::' : ''}${prefix}`),
    { numRuns: 800, seed: 22 },
  );

describe('Rego rewritten for speed decides as the Rego it replaced (compiled WASM, generated boundary cases)', () => {
  let work: string;
  let probe: PolicyEngine;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'kubiya-rego-rewrites-'));
    const dir = join(work, 'policies');
    await cp(join(REPO_ROOT, 'policies'), dir, { recursive: true });
    await mkdir(join(dir, 'probe'));
    await writeFile(join(dir, 'probe', 'probe.rego'), PROBE);
    const original = join(REPO_ROOT, 'test', 'policies', 'rego-before-rewrite');
    // Only the files at its top (the library before the first round); h-rego/ holds the second round's whole files.
    for (const f of (await readdir(original)).filter((n) => n.endsWith('.rego')))
      await writeFile(join(dir, 'probe', f), await readFile(join(original, f)));
    const caps = await wasmCapabilities(opa, join(work, 'caps.json'));
    const out = join(work, 'probe.tar.gz');
    const entrypoints = ['refs', 'entries', 'hosts', 'cidrs', 'covers', 'quantities', 'parts'].flatMap((e) => [
      `${e}_now`,
      `${e}_was`,
    ]);
    await run(opa, [
      'build',
      '-t',
      'wasm',
      ...entrypoints.flatMap((e) => ['-e', `probe/${e}`]),
      '--capabilities',
      caps,
      '--revision',
      'probe',
      '--ignore',
      '*_test.rego',
      '-o',
      out,
      dir,
    ]);
    probe = await loadEngine(await readBundle(out));
  });
  after(() => rm(work, { recursive: true, force: true }));

  const result = <T>(entrypoint: string, strings: readonly string[], more: object = {}): T =>
    (probe.evaluate({ strings, ...more }, `probe/${entrypoint}`) as { result: T }[])[0]!.result;

  test('image references: the same parse (registry, repository, tag, digest, canonical) or the same refusal', () => {
    const refs = [...new Set(imageRefs())];
    let parsed = 0;
    for (let i = 0; i < refs.length; i += 300) {
      const chunk = refs.slice(i, i + 300);
      const now = result<Record<string, unknown>>('refs_now', chunk);
      const was = result<Record<string, unknown>>('refs_was', chunk);
      for (const ref of chunk) assert.deepEqual(now[ref], was[ref], JSON.stringify(ref));
      parsed += Object.keys(was).length;
    }
    // The generator reaches both sides of every bound.
    assert.ok(parsed > 100 && parsed < refs.length - 100, `${parsed} of ${refs.length} parsed`);
  });

  test('image allow/deny entries: the same entry or the same refusal', () => {
    const entries = [
      ...new Set(
        fc.sample(
          fc
            .tuple(pick(REGISTRIES), pick(PORTS), pick(['', 'acme', 'library', 'alpine', 'a/b']))
            .map(([r, p, n]) => (r === '' ? n : `${r.slice(0, -1)}${p}${n === '' ? '' : `/${n}`}`)),
          { numRuns: 400, seed: 23 },
        ),
      ),
    ];
    const now = result<Record<string, unknown>>('entries_now', entries);
    const was = result<Record<string, unknown>>('entries_was', entries);
    for (const e of entries) assert.deepEqual(now[e], was[e], JSON.stringify(e));
    assert.ok(Object.keys(was).length > 10, 'some generated entries are valid');
  });

  test('hosts and CIDRs: the same verdict', () => {
    const hs = [...new Set(hosts())];
    assert.deepEqual(result<string[]>('hosts_now', hs), result<string[]>('hosts_was', hs));
    const valid = result<string[]>('hosts_was', hs).length;
    assert.ok(valid > 20 && valid < hs.length - 20, `${valid} of ${hs.length} hosts valid`);
    const cs = [...new Set(cidrs())];
    assert.deepEqual(result<string[]>('cidrs_now', cs), result<string[]>('cidrs_was', cs));
    assert.ok(result<string[]>('cidrs_was', cs).length > 10, 'some generated CIDRs are valid');
  });

  test('image entries, second round: the reference pattern on e + "/x" accepts what the entry pattern did', () => {
    const component = pick([
      'acme',
      'Acme',
      'a__b',
      'a___b',
      'a--b',
      'a.b',
      'a_',
      '_a',
      '',
      'é',
      'a b',
      'x',
      'library',
    ]);
    const entries = [
      ...new Set(
        fc.sample(
          fc
            .tuple(
              pick(['', 'ghcr.io', 'GHCR.IO', 'localhost', 'a-b.c', '-a.b', 'a..b', '1.2.3.4', 'docker.io']),
              mostly(['', ':5000'], ['', ':5000', ':', ':x', ':443', ':0']),
              fc.array(component, { maxLength: 3 }),
              mostly([''], ['', ':1', '@sha256:ab', '/', '\n']),
            )
            .map(([r, p, cs, end]) => `${[`${r}${p}`, ...cs].filter((x, i) => i > 0 || x !== '').join('/')}${end}`),
          { numRuns: 1500, seed: 24 },
        ),
      ),
    ];
    const now = result<Record<string, unknown>>('entries_now', entries);
    const was = result<Record<string, unknown>>('entries_was', entries);
    for (const e of entries) assert.deepEqual(now[e], was[e], JSON.stringify(e));
    const valid = Object.keys(was).length;
    assert.ok(valid > 50 && valid < entries.length - 50, `${valid} of ${entries.length} entries valid`);
  });

  test('hosts, second round: string tests accept what host_pattern did (case, non-ASCII, whitespace)', () => {
    const hs = [
      ...new Set(
        fc.sample(
          fc
            .tuple(
              pick(['', '*.', '*', '**.', '.']),
              fc.array(pick(['a', 'A-1', 'x1', '1', '-a', 'a-', 'é', 'a b', 'a\n', 'ab'.repeat(32), '*']), {
                minLength: 1,
                maxLength: 4,
              }),
              pick(['com', 'COM', '123', '1a', '', '.']),
            )
            .map(([star, ls, tld]) => `${star}${[...ls, tld].join('.')}`),
          { numRuns: 1000, seed: 25 },
        ),
      ),
    ];
    const now = result<string[]>('hosts_now', hs);
    assert.deepEqual(now, result<string[]>('hosts_was', hs));
    assert.ok(now.length > 20 && now.length < hs.length - 20, `${now.length} of ${hs.length} hosts valid`);
  });

  test('allowed-host globs: string matching covers exactly what glob.match did', () => {
    const patterns = ['api.github.com', '*.amazonaws.com', '*.com', 'db', '*.a-b.c', 'API.GitHub.com', '*.X.Y'];
    const hs = [
      ...new Set(
        fc.sample(
          fc
            .tuple(
              fc.array(pick(['', 'x', 'X', 'a.b', '*', '**', 'é', 'a b']), { maxLength: 2 }),
              pick(['api.github.com', 'amazonaws.com', 'com', 'db', 'a-b.c', 'x.y', 'github.com', '']),
            )
            .map(([ls, base]) => [...ls, base].join('.')),
          { numRuns: 600, seed: 26 },
        ),
      ),
    ];
    const now = result<string[][]>('covers_now', hs, { patterns });
    assert.deepEqual(now, result<string[][]>('covers_was', hs, { patterns }));
    assert.ok(now.length > 20, `${now.length} pairs covered`);
  });

  test('quantities: one suffix lookup gives the number trying each suffix gave (or none)', () => {
    const suffixes = [
      '',
      'm',
      'k',
      'M',
      'G',
      'T',
      'P',
      'E',
      'Ki',
      'Mi',
      'Gi',
      'Ti',
      'Pi',
      'Ei',
      'i',
      'MiB',
      'mm',
      'Kim',
      'e3',
    ];
    const numbers = ['0', '1', '500', '0.5', '1.25', '1.', '.5', '1..2', '1.2.3', '', '-1', '+1', '1e3', '01'];
    const values: unknown[] = [
      ...fc.sample(
        fc.tuple(pick(numbers), pick(suffixes), pick(['', '', 'm', 'Mi', '1'])).map(([n, s, t]) => `${n}${s}${t}`),
        { numRuns: 1500, seed: 27 },
      ),
      0,
      1.5,
      4,
      null,
      true,
    ];
    const unique = [...new Map(values.map((v) => [JSON.stringify(v), v])).values()];
    const now = result<Record<string, unknown>>('quantities_now', [], { values: unique });
    const was = result<Record<string, unknown>>('quantities_was', [], { values: unique });
    assert.deepEqual(now, was);
    const parsed = Object.keys(was).length;
    assert.ok(parsed > 50 && parsed < unique.length - 50, `${parsed} of ${unique.length} quantities parsed`);
  });

  test('image references, string split: the same [ref, name, tag, digest] as the pattern, or none', () => {
    const component = mostly(
      ['acme', 'tool', 'a.b', 'a_b', 'a__b', 'a-b', 'a--b'],
      [
        'a',
        'A',
        'a..b',
        'a._b',
        'a_.b',
        'a___b',
        'a-_b',
        'a_-b',
        'a.-b',
        'a-.b',
        '-a',
        'a-',
        '_a',
        'a_',
        '.a',
        'a.',
        '',
        'é',
        'a b',
        '1',
      ],
    );
    const refs = [
      ...new Set(
        fc.sample(
          fc
            .tuple(
              mostly(
                ['', 'ghcr.io/', 'localhost:5000/'],
                ['', 'GHCR.io/', '-a.b/', 'a-.b/', 'a..b/', 'a:/', 'a:x/', 'a.b:1/', 'é.com/'],
              ),
              fc.array(component, { minLength: 1, maxLength: 3 }),
              mostly(['', ':1.2', ':latest'], ['', ':.x', ':-x', ':_x', ':x:y', ':', ':X', ':é', ':a/b']),
              mostly(
                ['', `@sha256:${hex(4)}`],
                [
                  '',
                  '@sha1:ab',
                  '@sha384:ab',
                  '@sha512:ab',
                  '@sha256:',
                  '@sha256:AB',
                  '@',
                  '@sha256:ab@sha256:ab',
                  '@sha256:a:b',
                ],
              ),
            )
            .map(([r, cs, t, d]) => `${r}${cs.join('/')}${t}${d}`),
          { numRuns: 2500, seed: 28 },
        ),
      ),
    ];
    let parsed = 0;
    for (let i = 0; i < refs.length; i += 500) {
      const chunk = refs.slice(i, i + 500);
      const now = result<Record<string, unknown>>('parts_now', chunk);
      const was = result<Record<string, unknown>>('parts_was', chunk);
      for (const ref of chunk) assert.deepEqual(now[ref], was[ref], JSON.stringify(ref));
      parsed += Object.keys(was).length;
    }
    assert.ok(parsed > 200 && parsed < refs.length - 200, `${parsed} of ${refs.length} split`);
  });
});
