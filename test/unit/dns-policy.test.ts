// Red team 17 (listed as finding 10 in the report): `runner.network.dnsPolicy` was documented
// ("DNS policy of step pods"), accepted with four values, and read by nothing. Class: a documented
// setting that nothing reads. The key is in the seed's values (`ClusterFirst`), so it stays, with
// the one value the runner can honour: `Default` would send DNS to the node's resolver, which the
// DNS-only egress policy does not allow; `None` needs a dnsConfig the runner never writes. Every
// step pod now says `dnsPolicy: ClusterFirst` itself and carries no dnsConfig (the hardening,
// src/mutate/restricted.ts), so the setting is true; the STEP_POD_ALTERED comparison still agrees.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { V1PodDNSConfig, V1PodSpec } from '@kubernetes/client-node';
import fc from 'fast-check';
import { parseConfig } from '../../src/config/load.ts';
import { alteredFields } from '../../src/create/admitted.ts';
import { apiDefaulted } from '../../src/create/pod-defaults.ts';
import { signAssignment } from '../../src/dev/sign.ts';
import { mutate, type RestrictedProfile } from '../../src/mutate/restricted.ts';
import { testConfig } from '../support/config.ts';
import { memoryRunner } from '../support/memory-runner.ts';
import { arbitraryPod } from '../support/pod-arbitrary.ts';
import { ISSUER, NOW, RUNNER, testKeys, workflow } from '../support/tokens.ts';

const profile: RestrictedProfile = {
  runAsUser: 65532,
  runAsGroup: 65532,
  fsGroup: 65532,
  allowNetBindService: false,
  readOnlyRootFilesystem: false,
  tmpSize: '1Gi',
};

/** The test config with runner.network.dnsPolicy = value (undefined: left out), through the real schema. */
function withDnsPolicy(value: unknown): ReturnType<typeof parseConfig> {
  const base = testConfig() as unknown as { runner: Record<string, unknown> & { network: Record<string, unknown> } };
  const network = { ...base.runner.network };
  if (value === undefined) delete network.dnsPolicy;
  else network.dnsPolicy = value;
  return parseConfig({ ...base, runner: { ...base.runner, network } });
}

describe('runner.network.dnsPolicy: only ClusterFirst, and written into every step pod', () => {
  const cases: [value: unknown, accepted: boolean][] = [
    [undefined, true],
    ['ClusterFirst', true],
    ['Default', false],
    ['None', false],
    ['ClusterFirstWithHostNet', false],
    ['clusterfirst', false],
    ['ClusterFirst ', false],
    ['', false],
    [null, false],
    [1, false],
  ];
  for (const [value, accepted] of cases)
    test(`config: dnsPolicy ${JSON.stringify(value) ?? '(absent)'} is ${accepted ? 'ClusterFirst' : 'CONFIG_INVALID naming the key'}`, () => {
      const r = withDnsPolicy(value);
      assert.equal(r.ok, accepted, r.ok ? 'accepted' : r.error.message);
      if (r.ok) return assert.equal(r.value.runner.network.dnsPolicy, 'ClusterFirst');
      assert.equal(r.error.code, 'CONFIG_INVALID');
      assert.match(r.error.message, /runner\.network\.dnsPolicy: only "ClusterFirst" is supported/);
    });

  test('any pod, hardened, says dnsPolicy ClusterFirst and has no dnsConfig; hardening again changes nothing (property)', () => {
    const dns = fc.record(
      {
        dnsPolicy: fc.constantFrom('ClusterFirst', 'Default', 'None', 'ClusterFirstWithHostNet'),
        dnsConfig: fc.constant<V1PodDNSConfig>({ nameservers: ['203.0.113.9'], searches: ['evil.example'] }),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(arbitraryPod, dns, (pod, extra) => {
        const input = { ...pod, spec: { ...pod.spec!, ...extra } };
        const { pod: hardened } = mutate(input, profile);
        assert.equal(hardened.spec?.dnsPolicy, 'ClusterFirst');
        assert.equal(hardened.spec?.dnsConfig, undefined);
        assert.deepEqual(mutate(hardened, profile).patch, []);
      }),
      { numRuns: 300 },
    );
  });

  test('STEP_POD_ALTERED still agrees: the API server default is what was decided; Default or a dnsConfig is reported', () => {
    const { pod: decided } = mutate(
      {
        metadata: { name: 'p', namespace: 'wf' },
        spec: { containers: [{ name: 'step', image: 'python:3.11' }], restartPolicy: 'Never' },
      },
      profile,
    );
    assert.equal(decided.spec?.dnsPolicy, 'ClusterFirst');
    const admitted = { ...decided, spec: apiDefaulted(decided.spec) as unknown as V1PodSpec };
    assert.deepEqual(alteredFields(decided, admitted), []);
    const { dnsPolicy: _omitted, ...withoutDns } = decided.spec;
    assert.deepEqual(alteredFields(decided, { ...decided, spec: withoutDns }), [], 'absent is the default');
    assert.deepEqual(alteredFields(decided, { ...decided, spec: { ...decided.spec, dnsPolicy: 'Default' } }), [
      'spec.dnsPolicy',
    ]);
    assert.ok(
      alteredFields(decided, { ...decided, spec: { ...decided.spec, dnsConfig: { nameservers: ['203.0.113.9'] } } })
        .length > 0,
    );
  });
});

describe('the reported example: the pod the pipeline creates names its DNS policy', () => {
  const closers: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of closers) await c();
  });

  test('one allowed step: the created pod has dnsPolicy ClusterFirst (the report found no dns key at all)', async () => {
    const { key, keys } = await testKeys();
    const r = await memoryRunner({ keys });
    closers.push(r.close);
    const token = await signAssignment(key, {
      issuer: ISSUER,
      audience: RUNNER,
      workflow: workflow(),
      now: NOW,
      jti: 'dns-1',
    });
    await r.run({ body: token, contentType: 'application/jwt' });
    const pod = r.deps.pods.created[0];
    assert.ok(pod !== undefined, 'a pod was created');
    assert.equal(pod.spec?.dnsPolicy, 'ClusterFirst');
    assert.equal(pod.spec?.dnsConfig, undefined);
  });
});
