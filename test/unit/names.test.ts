import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { egressPolicyName, podName, volumeClaimName } from '../../src/pod/names.ts';

/**
 * The class (issue 13 §1): two different identities — (run id, step) for a pod and its egress
 * policy, (run, volume) for a volume claim — must never get one object name. The readable form
 * `workflow-<runId>-step-<step>` is ambiguous in three ways, each generated below:
 *  1. the separator inside a part: run `a` step `b-step-c` vs run `a-step-b` step `c` (the report);
 *  2. truncation to 63 characters: parts that differ only past the cut;
 *  3. DNS-safing maps several strings to one: case (`A`/`a`), other characters (`a_b`/`a.b`/`a-b`),
 *     repeated or edge dashes (`a--b`, `-a`), non-ASCII (`ＡＢＣ`).
 * The names keep the readable prefix and always add a hash of the exact parts: the property is that
 * distinct identities give distinct names (a 40-bit hash collision aside; then adoption refuses).
 */

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

// Parts drawn from few characters, with the ambiguous ones over-represented, so collisions of the
// readable form are common in the generated pairs.
const token = fc.stringMatching(/^[a-cA-C_.-]{0,6}$/);
const part = fc.oneof(
  token,
  fc.tuple(token, token).map(([x, y]) => `${x}-step-${y}`),
  fc.tuple(fc.constantFrom(60, 70, 120), token).map(([n, t]) => `${'x'.repeat(n)}${t}`),
  fc.constantFrom('ＡＢＣ', '-a-', 'a--b', 'A', 'a', 'step', '-step-', ''),
);
const identity = fc.tuple(part, part);

const REPORTED: readonly [readonly [string, string], readonly [string, string]] = [
  ['a', 'b-step-c'],
  ['a-step-b', 'c'],
];

const VARIANTS: readonly (readonly [string, readonly [string, string], readonly [string, string]])[] = [
  ['the reported example: "-step-" inside a part', REPORTED[0], REPORTED[1]],
  ['"-step-" inside both parts', ['a-step-b', 'c-step-d'], ['a', 'b-step-c-step-d']],
  ['truncation: the run ids differ past 63 characters', ['r'.repeat(70) + '1', 's'], ['r'.repeat(70) + '2', 's']],
  ['truncation: the steps differ past 63 characters', ['run', 's'.repeat(70) + 'a'], ['run', 's'.repeat(70) + 'b']],
  ['case', ['A', 'b'], ['a', 'b']],
  ['other characters', ['a_b', 'c'], ['a-b', 'c']],
  ['dots', ['a.b', 'c'], ['a_b', 'c']],
  ['repeated dashes', ['a--b', 'c'], ['a-b', 'c']],
  ['edge dashes', ['-a', 'b'], ['a', 'b']],
  ['non-ASCII', ['ＡＢＣ', 'x'], ['abc', 'x']],
  ['empty parts', ['', 'a'], ['a', '']],
];

test('the reported collision: run a step b-step-c and run a-step-b step c share the readable form, never a name', () => {
  const [[r1, s1], [r2, s2]] = REPORTED;
  assert.equal(
    `workflow-${r1}-step-${s1}`,
    `workflow-${r2}-step-${s2}`,
    'the readable forms are equal (the seed name alone collides)',
  );
  assert.notEqual(podName(r1, s1), podName(r2, s2));
  assert.notEqual(egressPolicyName(r1, s1), egressPolicyName(r2, s2));
  assert.match(podName(r1, s1), /^workflow-a-step-b-step-c-[0-9a-f]{10}$/);
});

for (const [what, [r1, s1], [r2, s2]] of VARIANTS) {
  test(`distinct names: ${what}`, () => {
    assert.notEqual(podName(r1, s1), podName(r2, s2));
    assert.notEqual(egressPolicyName(r1, s1), egressPolicyName(r2, s2));
    assert.notEqual(volumeClaimName(r1, s1), volumeClaimName(r2, s2));
  });
}

test('property: distinct (run id, step) pairs never share a pod, egress policy or volume claim name', () => {
  fc.assert(
    fc.property(identity, identity, ([r1, s1], [r2, s2]) => {
      fc.pre(r1 !== r2 || s1 !== s2);
      assert.notEqual(podName(r1, s1), podName(r2, s2));
      assert.notEqual(egressPolicyName(r1, s1), egressPolicyName(r2, s2));
      assert.notEqual(volumeClaimName(r1, s1), volumeClaimName(r2, s2));
    }),
    { numRuns: 5000 },
  );
});

test('property: a batch of identities gets as many names as it has identities (and kinds never share one)', () => {
  fc.assert(
    fc.property(fc.uniqueArray(identity, { maxLength: 200, selector: ([r, s]) => JSON.stringify([r, s]) }), (ids) => {
      const pods = new Set(ids.map(([r, s]) => podName(r, s)));
      const claims = new Set(ids.map(([r, s]) => volumeClaimName(r, s)));
      assert.equal(pods.size, ids.length);
      assert.equal(claims.size, ids.length);
      assert.equal([...pods].filter((n) => claims.has(n)).length, 0, 'a pod name is never a volume claim name');
    }),
    { numRuns: 300 },
  );
});

test('property: names are DNS-safe, bounded, keep the seed prefix, and are a pure function of the parts', () => {
  fc.assert(
    fc.property(identity, ([r, s]) => {
      const pod = podName(r, s);
      assert.match(pod, DNS_LABEL);
      assert.ok(pod.length <= 63, pod);
      assert.ok(pod.startsWith('workflow-'), pod);
      assert.match(pod, /-[0-9a-f]{10}$/);
      assert.equal(podName(r, s), pod, 'deterministic: a restarted runner finds the same pod');
      const egress = egressPolicyName(r, s);
      assert.equal(egress, `${pod}-egress`);
      assert.match(egress, DNS_SUBDOMAIN);
      assert.ok(egress.length <= 70);
      const claim = volumeClaimName(r, s);
      assert.match(claim, DNS_LABEL);
      assert.ok(claim.length <= 63);
    }),
    { numRuns: 2000 },
  );
});

test('the readable part is the seed name whenever it fits: workflow-<runId>-step-<step>-<hash>', () => {
  fc.assert(
    fc.property(
      fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,18}[a-z0-9])?$/),
      fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,18}[a-z0-9])?$/),
      (r, s) => {
        fc.pre(!r.includes('--') && !s.includes('--'));
        assert.match(podName(r, s), new RegExp(`^workflow-${r}-step-${s}-[0-9a-f]{10}$`));
      },
    ),
  );
});
