// Red team 17, finding 4. Class: a setting that widens what verifies, with no upper bound (a
// fail-open by configuration). `controlPlane.clockTolerance` accepted up to 68 years and, at
// `596523h`, a token that expired a year ago verified. Its siblings: the settings that widen the
// time a token or a removed key keeps verifying — `maxTokenAge` (the runner's own ceiling on a
// token's life), `jwksRefresh` (a key removed from the JWKS verifies until the next fetch) and
// `jwksStaleIfError` (already 24 h). Each now has a bound, refused as CONFIG_INVALID naming the
// key and the bound; the boundaries are table-tested, the verify effect by property.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { parseConfig } from '../../src/config/load.ts';
import { signAssignment } from '../../src/dev/sign.ts';
import { verify } from '../../src/verify/verify.ts';
import { testConfig, testPipelineConfig } from '../support/config.ts';
import { ISSUER, RUNNER, testKeys, workflow } from '../support/tokens.ts';

/** Each bounded key: its bounds in seconds, and an accepted spelling of the upper bound. */
const WINDOWS: [path: string, min: number, max: number, maxSpelled: string][] = [
  ['controlPlane.clockTolerance', 0, 300, '5m'],
  ['controlPlane.maxTokenAge', 1, 86_400, '24h'],
  ['controlPlane.jwksRefresh', 1, 86_400, '23h59m60s'],
  ['controlPlane.jwksStaleIfError', 0, 86_400, '1440m'],
];

/** The test config with `value` at `path` (a controlPlane key), through the real schema. */
function withValue(path: string, value: unknown): ReturnType<typeof parseConfig> {
  const key = path.split('.')[1] as string;
  const base = testConfig() as unknown as { controlPlane: Record<string, unknown> };
  return parseConfig({ ...base, controlPlane: { ...base.controlPlane, [key]: value } });
}

describe('settings that widen what verifies are bounded (red team 17, finding 4)', () => {
  for (const [path, min, max, maxSpelled] of WINDOWS) {
    const cases: [value: unknown, accepted: boolean][] = [
      [min, true],
      [max, true],
      [maxSpelled, true],
      [max + 1, false],
      [`${max + 1}s`, false],
      ['596523h', false], // the reported value
      [2 ** 31 - 1, false],
      ...(min > 0 ? ([[min - 1, false]] as [number, boolean][]) : []),
    ];
    for (const [value, accepted] of cases)
      test(`${path} = ${JSON.stringify(value)}: ${accepted ? 'accepted' : 'CONFIG_INVALID naming the key and the bound'}`, () => {
        const r = withValue(path, value);
        assert.equal(r.ok, accepted, r.ok ? 'accepted' : r.error.message);
        if (r.ok) return;
        assert.equal(r.error.code, 'CONFIG_INVALID');
        assert.ok(r.error.message.includes(`${path}: must be between ${min} and ${max} seconds`), r.error.message);
      });
  }

  test('any clockTolerance from 0 to 300 s is accepted, any above refused (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10_000_000 }), (s) => {
        assert.equal(withValue('controlPlane.clockTolerance', s).ok, s <= 300);
      }),
      { numRuns: 500 },
    );
  });

  test('the reported example: a token issued 366 days ago with exp +300 s is VERIFY_EXPIRED at every tolerance the schema accepts', async () => {
    const { key, keys } = await testKeys();
    const yearAgo = new Date(Date.now() - 366 * 86_400_000);
    const token = await signAssignment(key, {
      issuer: ISSUER,
      audience: RUNNER,
      workflow: workflow(),
      now: yearAgo,
      ttlSeconds: 300,
      jti: 'old-1',
    });
    for (const tol of [30, '5m']) {
      const cfg = testPipelineConfig({ controlPlane: { clockTolerance: tol as never } });
      const r = await verify(token, cfg.verify, { keys, now: () => new Date() });
      assert.equal(r.ok, false);
      if (!r.ok) assert.equal(r.error.code, 'VERIFY_EXPIRED', `clockTolerance ${tol}`);
    }
    for (const tol of ['24h', '596523h', 2_147_483_647])
      assert.throws(
        () => testPipelineConfig({ controlPlane: { clockTolerance: tol as never } }),
        /controlPlane\.clockTolerance: must be between 0 and 300 seconds/,
      );
  });

  test('at the largest tolerance, a token expired by more than it never verifies (property)', async () => {
    const { key, keys } = await testKeys();
    const cfg = testPipelineConfig({ controlPlane: { clockTolerance: 300 } });
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 301, max: 400 * 86_400 }), async (expiredFor) => {
        const now = Date.now();
        const token = await signAssignment(key, {
          issuer: ISSUER,
          audience: RUNNER,
          workflow: workflow(),
          now: new Date(now - (expiredFor + 60) * 1000),
          ttlSeconds: 60,
          jti: `old-${expiredFor}`,
        });
        const r = await verify(token, cfg.verify, { keys, now: () => new Date(now) });
        assert.equal(r.ok, false);
      }),
      { numRuns: 40 },
    );
  });
});
