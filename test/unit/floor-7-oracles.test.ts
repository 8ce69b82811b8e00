import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import { maskPatternsOf, SECRET_NAME, type MaskPatterns } from '../../src/audit/credential-patterns.ts';
import { isSecretFlag } from '../../src/audit/mask-command.ts';
import { tokenHash } from '../../src/pipeline/verified-cache.ts';
import { attemptPodName, dnsSafeName, identityName, podName, runName, volumeClaimName } from '../../src/pod/names.ts';
import { containerResources, type ResourceDefaults, type ResourceSpec } from '../../src/pod/resources.ts';
import { isZeroQuantity, quantityValue } from '../../src/units/units.ts';

/**
 * Issue 20 (h-floor-7): three pieces of the decision path made cheaper, each against its previous
 * code kept verbatim here as the oracle, over generated inputs:
 *  - identityName: the clean-name fast path (a regex test instead of lower-case + three replaces)
 *    and the one-shot `crypto.hash` instead of a Hash object;
 *  - tokenHash: the one-shot `crypto.hash` (lone surrogates included: both encode as UTF-8 with U+FFFD);
 *  - containerResources: `present` as one loop, zero tests of a quantity's text remembered;
 *  - isSecretFlag: false at once for a word whose first character is not `-`.
 * The masking walk's own changes are checked by mask-oracle.test.ts (the walk as it was).
 */

const oldClean = (raw: string): string =>
  raw
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-+|-+$/g, '');

function oldIdentityName(readable: string, parts: readonly string[], max = 63): string {
  const hash = createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 10);
  const head = oldClean(readable)
    .slice(0, max - 10 - 1)
    .replace(/-+$/, '');
  return head.length > 0 ? `${head}-${hash}` : `x-${hash}`;
}

const oldTokenHash = (token: string): string => createHash('sha256').update(token, 'utf8').digest('base64url');

function oldPresent(list: Readonly<Partial<Record<string, string>>> | undefined): Record<string, string> {
  return Object.fromEntries(
    Object.entries(list ?? {}).filter((e): e is [string, string] => e[1] !== undefined && !isZeroQuantity(e[1])),
  );
}
const oldAbove = (a: string, b: string): boolean => (quantityValue(a) ?? 0) > (quantityValue(b) ?? 0);
function oldContainerResources(
  spec: ResourceSpec | undefined,
  defaults: ResourceDefaults | undefined,
  extraLimits: Record<string, string> = {},
): unknown {
  const asked = { requests: oldPresent(spec?.requests), limits: oldPresent(spec?.limits) };
  const requests: Record<string, string> = { ...asked.requests };
  const limits: Record<string, string> = { ...asked.limits };
  for (const [name, value] of Object.entries(oldPresent(defaults?.limits))) {
    if (limits[name] !== undefined) continue;
    const request = requests[name];
    limits[name] = request !== undefined && oldAbove(request, value) ? request : value;
  }
  for (const [name, value] of Object.entries(oldPresent(defaults?.requests))) {
    if (requests[name] !== undefined) continue;
    const limit = limits[name];
    requests[name] = limit !== undefined && oldAbove(value, limit) ? limit : value;
  }
  Object.assign(limits, extraLimits);
  const out = {
    ...(Object.keys(requests).length > 0 ? { requests } : {}),
    ...(Object.keys(limits).length > 0 ? { limits } : {}),
  };
  return Object.keys(out).length > 0 ? out : undefined;
}

// Names: clean ones (the fast path), almost clean ones (edge or double dashes, upper case, one odd
// character), and anything (binary, lone surrogates).
const cleanish = fc.stringMatching(/^-?[a-zA-Z0-9]{0,5}(?:-{1,2}[a-z0-9_.]{0,5}){0,4}-?\n?$/);
const anyText = fc.oneof(
  cleanish,
  fc.string({ maxLength: 80 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.constantFrom('', '-', 'a', 'A', 'a-b', 'a--b', '-a', 'a-', 'ａ', 'ǅ', 'İ', 'x'.repeat(70), `${'a-'.repeat(40)}b`),
);

test('identityName (and every name built on it) equals the old code on generated names and parts', () => {
  fc.assert(
    fc.property(anyText, fc.array(anyText, { maxLength: 4 }), fc.integer({ min: 12, max: 80 }), (r, parts, max) => {
      assert.equal(identityName(r, parts, max), oldIdentityName(r, parts, max));
      assert.equal(identityName(r, parts), oldIdentityName(r, parts));
    }),
    { numRuns: 3000 },
  );
  fc.assert(
    fc.property(anyText, anyText, fc.integer({ min: 1, max: 5 }), (a, b, n) => {
      assert.equal(podName(a, b), oldIdentityName(`workflow-${a}-step-${b}`, ['step', a, b]));
      assert.equal(runName(a), oldIdentityName(`wr-${a}`, ['run', a]));
      assert.equal(volumeClaimName(a, b), oldIdentityName(`${a}-${b}`, ['volume', a, b]));
      if (n > 1)
        assert.equal(
          attemptPodName(a, b, n),
          oldIdentityName(`workflow-${a}-step-${b}-a${n}`, ['step', a, b, String(n)]),
        );
      // dnsSafeName shares `clean`.
      const cleaned = oldClean(a);
      if (cleaned.length > 0 && cleaned.length <= 63) assert.equal(dnsSafeName(a), cleaned);
    }),
    { numRuns: 2000 },
  );
});

test('tokenHash equals createHash(...).update(token, utf8).digest(base64url), lone surrogates included', () => {
  for (const t of ['', 'a.b.c', '\uD800', 'x\uDC00y', '\uD83D\uDE00', 'é'.repeat(300)])
    assert.equal(tokenHash(t), oldTokenHash(t));
  fc.assert(
    fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 64 }), fc.string({ maxLength: 2000 })), (t) => {
      assert.equal(tokenHash(t), oldTokenHash(t));
    }),
    { numRuns: 2000 },
  );
});

// Quantities: every spelling of zero, valid ones, refused ones (which count as non-zero), long ones.
const quantity = fc.oneof(
  fc.constantFrom(
    '0',
    '0m',
    '0Mi',
    '0.0Gi',
    '00',
    '0.000',
    '100m',
    '1',
    '1Gi',
    '256Mi',
    '1.5',
    '2k',
    '1e3',
    '+1',
    '.5',
    '',
  ),
  fc
    .tuple(fc.nat({ max: 2000 }), fc.constantFrom('', 'm', 'k', 'Ki', 'Mi', 'Gi', 'M', 'G', 'x'))
    .map(([n, s]) => `${n}${s}`),
  fc.string({ maxLength: 40 }),
  fc.constant(`0${'0'.repeat(40)}`),
);
const names = fc.constantFrom('cpu', 'memory', 'ephemeral-storage', 'nvidia.com/gpu', '__proto__', 'constructor');
const list = fc.option(fc.dictionary(names, fc.option(quantity, { nil: undefined }), { maxKeys: 4 }), {
  nil: undefined,
});
const spec = fc.option(fc.record({ requests: list, limits: list }, { requiredKeys: [] }), { nil: undefined });

test('containerResources equals the old code on generated specs, defaults and extra limits', () => {
  fc.assert(
    fc.property(spec, spec, fc.dictionary(names, quantity, { maxKeys: 2 }), (s, d, extra) => {
      // Twice: the second call answers the zero tests from what the first remembered.
      for (let i = 0; i < 2; i++) {
        const got = containerResources(s, d, extra);
        assert.deepStrictEqual(got, oldContainerResources(s, d, extra));
        // Same own keys in the same order (deepStrictEqual does not compare order).
        for (const side of ['requests', 'limits'] as const)
          assert.deepEqual(
            Object.keys((got as Record<string, object> | undefined)?.[side] ?? {}),
            Object.keys((oldContainerResources(s, d, extra) as Record<string, object> | undefined)?.[side] ?? {}),
          );
      }
    }),
    { numRuns: 3000 },
  );
});

test('a "__proto__" resource name stays an own key, as Object.fromEntries kept it', () => {
  const requests = JSON.parse('{"__proto__":"1","cpu":"0"}') as Record<string, string>;
  const got = containerResources({ requests }, undefined);
  assert.deepStrictEqual(got, oldContainerResources({ requests }, undefined));
  assert.ok(Object.hasOwn(got?.requests ?? {}, '__proto__'));
  assert.equal(Object.getPrototypeOf(got?.requests), Object.prototype);
});

test('the remembered zero test holds after many distinct quantities (the memory is emptied, not wrong)', () => {
  for (let i = 0; i < 3000; i++) {
    const q = i % 3 === 0 ? `0.${'0'.repeat(i % 7)}m` : `${i}Mi`;
    assert.deepStrictEqual(
      containerResources({ limits: { memory: q } }, undefined),
      oldContainerResources({ limits: { memory: q } }, undefined),
    );
  }
});

const OLD_SECRET_FLAG = new RegExp(
  `^--?(?:[A-Za-z0-9_.-]*${SECRET_NAME.source}|(?:[A-Za-z0-9_.-]*[_.-])?(?:pass|pwd))$`,
  'i',
);
function oldIsSecretFlag(word: string, extra: MaskPatterns): boolean {
  if (OLD_SECRET_FLAG.test(word)) return true;
  const flag = /^--?([A-Za-z0-9_.-]+)$/.exec(word);
  if (flag === null || extra.names.length === 0) return false;
  if (flag[1]!.length > 256) return true;
  const asEnvName = flag[1]!.replace(/[-.]/g, '_');
  return extra.names.some((p) => {
    p.regex.lastIndex = 0;
    return p.regex.test(asEnvName);
  });
}

test('isSecretFlag equals the old code on generated words, with the floor and with a bundle’s name patterns', () => {
  const bundle = maskPatternsOf({
    secrets: {
      credentials: {
        envNames: [
          { id: 'db', pattern: '^DB_' },
          { id: 'pin', pattern: 'PIN$' },
        ],
        values: [],
      },
    },
  });
  const flagish = fc
    .tuple(
      fc.constantFrom('', '-', '--', '---', ' -', '\u2010', '\n-', '+', '$'),
      fc.constantFrom('password', 'db-pass', 'token', 'pin', 'db.host', 'x', 'PWD', 'secret', ''),
      fc.string({ maxLength: 4 }),
    )
    .map(([a, b, c]) => `${a}${b}${c}`);
  assert.equal(bundle.names.length, 2);
  fc.assert(
    fc.property(fc.oneof(flagish, fc.string({ maxLength: 20 }), fc.string({ unit: 'binary', maxLength: 8 })), (w) => {
      for (const extra of [maskPatternsOf(undefined), bundle])
        assert.equal(isSecretFlag(w, extra), oldIsSecretFlag(w, extra));
    }),
    { numRuns: 3000 },
  );
});
