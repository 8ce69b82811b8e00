import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadConfig } from '../../src/config/load.ts';

/**
 * `kubernetes.api` (stall detection): defaults, durations, and the settings that would defeat the
 * detection — a zero timeout (no bound), an idle bound at or under the server's watch timeout (every
 * healthy quiet watch taken for stalled), unknown keys.
 */

const withApi = (api: string): string => `
runner:
  name: r
controlPlane:
  issuer: https://cp
  jwksFile: /j.json
policy:
  bundle: /b.tar.gz
audit:
  dir: /a
${api}`;

describe('kubernetes.api', () => {
  test('defaults: requestTimeout 15 s, watchTimeout 30 s, watchIdle 45 s, relist 5 min', () => {
    const c = loadConfig(withApi(''), {});
    assert.ok(c.ok);
    assert.deepEqual(
      { ...c.value.kubernetes.api },
      { requestTimeout: 15, watchTimeout: 30, watchIdle: 45, relist: 300 },
    );
  });

  test('durations are accepted as numbers or 1m30s forms', () => {
    const c = loadConfig(
      withApi('kubernetes:\n  api: { requestTimeout: 5s, watchTimeout: 1m, watchIdle: 1m30s, relist: 600 }'),
      {},
    );
    assert.ok(c.ok);
    assert.deepEqual(
      { ...c.value.kubernetes.api },
      { requestTimeout: 5, watchTimeout: 60, watchIdle: 90, relist: 600 },
    );
  });

  const refused: [string, string, string][] = [
    ['a zero request timeout', 'requestTimeout: 0', 'kubernetes.api.requestTimeout'],
    ['a zero watch timeout', 'watchTimeout: 0', 'kubernetes.api.watchTimeout'],
    ['a zero relist period', 'relist: 0', 'kubernetes.api.relist'],
    ['an idle bound equal to the watch timeout', 'watchTimeout: 30, watchIdle: 30', 'kubernetes.api.watchIdle'],
    ['an idle bound under the watch timeout', 'watchTimeout: 60, watchIdle: 45', 'kubernetes.api.watchIdle'],
    ['an unknown key', 'watchIdel: 60', 'kubernetes.api'],
  ];
  for (const [name, body, path] of refused) {
    test(`refused: ${name}`, () => {
      const c = loadConfig(withApi(`kubernetes:\n  api: { ${body} }`), {});
      assert.ok(!c.ok);
      assert.equal(c.error.code, 'CONFIG_INVALID');
      const issues = c.error.details?.issues ?? [];
      assert.ok(
        issues.some((i) => i.path === path),
        JSON.stringify(issues),
      );
    });
  }
});
