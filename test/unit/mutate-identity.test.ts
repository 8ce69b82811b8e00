/**
 * mutate's last line on identity and on what the node dials for the pod (src/mutate/identity.ts,
 * container.ts), through `mutate` itself: the pod builder never produces these, so only mutate's
 * own tests can show it still removes them.
 *
 * Classes, each a table:
 * - a projected serviceAccountToken source: without an audience (absent or empty) it is removed,
 *   and a projected volume left with no source goes with its mounts; a lifetime is brought within
 *   [600 s, 86400 s] (one second either side of each bound), an absent one stays absent; the other
 *   sources of the volume, and other volumes, are kept as they are;
 * - probes (readiness, startup, liveness): a tcpSocket or httpGet `host` is removed, the rest kept;
 *   container ports lose hostPort and hostIP.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { V1Container, V1Pod, V1Volume, V1VolumeProjection } from '@kubernetes/client-node';
import { mutate, type RestrictedProfile } from '../../src/mutate/restricted.ts';

const profile: RestrictedProfile = {
  runAsUser: 1000,
  runAsGroup: 1000,
  fsGroup: 1000,
  allowNetBindService: false,
  readOnlyRootFilesystem: false,
  tmpSize: '1Gi',
};
const pod = (volumes: V1Volume[], container: Partial<V1Container> = {}): V1Pod => ({
  metadata: { name: 'p' },
  spec: {
    containers: [
      {
        name: 'step',
        image: 'alpine:3.20',
        volumeMounts: volumes.map((v) => ({ name: v.name, mountPath: `/${v.name}` })),
        ...container,
      },
    ],
    volumes,
  },
});
const token = (t: Record<string, unknown>): V1VolumeProjection => ({ serviceAccountToken: { path: 'token', ...t } });
const configMap: V1VolumeProjection = { configMap: { name: 'ca' } };
const projected = (...sources: V1VolumeProjection[]): V1Volume => ({ name: 'sa', projected: { sources } });

describe('a projected service account token: an audience and a bounded lifetime', () => {
  const table: [string, V1VolumeProjection[], V1VolumeProjection[] | undefined][] = [
    ['with an audience and no lifetime: kept', [token({ audience: 'sts' })], [token({ audience: 'sts' })]],
    ['no audience: the volume goes', [token({})], undefined],
    ['an empty audience: the volume goes', [token({ audience: '' })], undefined],
    ['no audience beside a configMap: the token goes, the configMap stays', [configMap, token({})], [configMap]],
    [
      '599 s: raised to 600',
      [token({ audience: 'a', expirationSeconds: 599 })],
      [token({ audience: 'a', expirationSeconds: 600 })],
    ],
    [
      '600 s: kept',
      [token({ audience: 'a', expirationSeconds: 600 })],
      [token({ audience: 'a', expirationSeconds: 600 })],
    ],
    [
      '86400 s: kept',
      [token({ audience: 'a', expirationSeconds: 86_400 })],
      [token({ audience: 'a', expirationSeconds: 86_400 })],
    ],
    [
      '86401 s: cut to 86400',
      [token({ audience: 'a', expirationSeconds: 86_401 })],
      [token({ audience: 'a', expirationSeconds: 86_400 })],
    ],
    [
      'a lifetime fixed beside a configMap',
      [configMap, token({ audience: 'a', expirationSeconds: 60 })],
      [configMap, token({ audience: 'a', expirationSeconds: 600 })],
    ],
    ['no token at all: kept', [configMap], [configMap]],
  ];
  for (const [name, sources, expected] of table) {
    test(name, () => {
      const { pod: out, patch } = mutate(
        pod([projected(...sources), { name: 'data', emptyDir: { sizeLimit: '1Gi' } }]),
        profile,
      );
      const sa = out.spec?.volumes?.find((v) => v.name === 'sa');
      assert.deepEqual(sa?.projected?.sources, expected);
      assert.deepEqual(
        out.spec?.containers[0]?.volumeMounts?.map((m) => m.name),
        expected === undefined ? ['data'] : ['sa', 'data'],
      );
      assert.ok(out.spec?.volumes?.some((v) => v.name === 'data' && v.emptyDir !== undefined));
      const touched = patch.some((op) => op.path.startsWith('/spec/volumes'));
      assert.equal(touched, JSON.stringify(expected) !== JSON.stringify(sources), JSON.stringify(patch));
    });
  }
  test('a projected volume without sources is kept as it is', () => {
    const v: V1Volume = { name: 'sa', projected: {} };
    assert.deepEqual(mutate(pod([v]), profile).pod.spec?.volumes, [v]);
  });
  test('the input pod is not changed', () => {
    const input = pod([projected(token({ audience: 'a', expirationSeconds: 1 }))]);
    const before = structuredClone(input);
    mutate(input, profile);
    assert.deepEqual(input, before);
  });
});

describe('what the node would dial: no probe host, no host port', () => {
  const probes = ['readinessProbe', 'startupProbe', 'livenessProbe'] as const;
  for (const kind of probes) {
    test(`${kind}: tcpSocket and httpGet lose their host, keep the rest`, () => {
      const tcp = mutate(
        pod([], { [kind]: { tcpSocket: { host: '10.0.0.1', port: 5432 }, periodSeconds: 2 } }),
        profile,
      );
      assert.deepEqual(tcp.pod.spec?.containers[0]?.[kind], { tcpSocket: { port: 5432 }, periodSeconds: 2 });
      const http = mutate(
        pod([], { [kind]: { httpGet: { host: 'metadata.internal', port: 80, path: '/healthz' } } }),
        profile,
      );
      assert.deepEqual(http.pod.spec?.containers[0]?.[kind], { httpGet: { port: 80, path: '/healthz' } });
      const exec = mutate(pod([], { [kind]: { exec: { command: ['true'] } } }), profile);
      assert.deepEqual(exec.pod.spec?.containers[0]?.[kind], { exec: { command: ['true'] } });
    });
  }
  test('no probe: none is added', () => {
    const c = mutate(pod([]), profile).pod.spec?.containers[0];
    for (const kind of probes) assert.equal(kind in (c ?? {}), false, kind);
  });
  test('ports keep their container port and name, lose hostPort and hostIP', () => {
    const c = mutate(
      pod([], { ports: [{ containerPort: 8080, name: 'http', hostPort: 80, hostIP: '0.0.0.0', protocol: 'TCP' }] }),
      profile,
    ).pod.spec?.containers[0];
    assert.deepEqual(c?.ports, [{ containerPort: 8080, name: 'http', protocol: 'TCP' }]);
  });
});
