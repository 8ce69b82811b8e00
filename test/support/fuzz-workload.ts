import type { V1Pod } from '@kubernetes/client-node';
import fc from 'fast-check';

/**
 * Fuzz generators and pod invariants for the step fields of issue 19 items 1, 2, 3, 7
 * (imagePullSecrets, nodeSelector, tolerations, serviceAccount, sidecar ports and readinessProbe):
 * mostly the valid shape, sometimes the spellings an attacker or a clumsy operator tries (a
 * key-less toleration, a probe host, a token without an audience or living a year, names that are
 * not DNS names, numbers out of range). Used by test/support/fuzz.ts.
 */

const hostileName = fc.constantFrom('', 'A', 'a'.repeat(254), '../x', 'a_b', 'x\u0000', '-a', 'default', 'kube-system');
const name = fc.oneof({ arbitrary: fc.constantFrom('acme-registry', 'deployer', 'a.b-c'), weight: 4 }, hostileName);
const anyNumber = fc.constantFrom(-1, 0, 1, 599, 600, 3600, 86_400, 86_401, 1.5, 2 ** 31, Number.MAX_SAFE_INTEGER);

export const pullSecrets = fc.oneof(fc.array(name, { maxLength: 10 }), fc.constant('acme-registry'));

export const nodeSelector = fc.oneof(
  fc.dictionary(
    fc.constantFrom('nvidia.com/gpu.present', 'kubernetes.io/arch', 'a/b/c', 'Bad Key', '', 'x'.repeat(70)),
    fc.constantFrom('true', 'amd64', '', 'x'.repeat(64), 'a b'),
    { maxKeys: 3 },
  ),
  fc.constant([]),
);

export const tolerations = fc.array(
  fc.record(
    {
      key: fc.constantFrom('nvidia.com/gpu', 'node.kubernetes.io/unreachable', '', 'a/b/c'),
      operator: fc.constantFrom('Equal', 'Exists', 'In', ''),
      value: fc.constantFrom('x', '', 'a b'),
      effect: fc.constantFrom('NoSchedule', 'NoExecute', 'PreferNoSchedule', '', 'Evict'),
      tolerationSeconds: anyNumber,
    },
    { requiredKeys: [] },
  ),
  { maxLength: 3 },
);

export const serviceAccount = fc.oneof(
  name,
  fc.record(
    {
      name,
      token: fc.record(
        {
          audience: fc.constantFrom('sts.amazonaws.com', '', 'a b', 'https://kubernetes.default.svc', 'x'.repeat(300)),
          expirationSeconds: anyNumber,
          env: fc.constantFrom('AWS_WEB_IDENTITY_TOKEN_FILE', 'PATH', 'A-B', ''),
          path: fc.constant('/etc/passwd'),
        },
        { requiredKeys: [] },
      ),
    },
    { requiredKeys: ['name'] },
  ),
);

export const ports = fc.array(
  fc.record(
    {
      port: fc.oneof(anyNumber, fc.constantFrom(5432, 80, 65_535, 65_536)),
      name: fc.constantFrom('pg', 'postgres', '123', 'a--b', 'x'.repeat(16)),
      protocol: fc.constantFrom('TCP', 'UDP', 'SCTP', 'HTTP'),
      hostPort: fc.constant(5432),
    },
    { requiredKeys: ['port'] },
  ),
  { maxLength: 3 },
);

export const readinessProbe = fc.oneof(
  fc.record(
    {
      tcpSocket: fc.record(
        { port: fc.oneof(fc.constantFrom(5432, 'pg', 'other', 0)), host: fc.constant('169.254.169.254') },
        { requiredKeys: ['port'] },
      ),
      periodSeconds: anyNumber,
      failureThreshold: anyNumber,
    },
    { requiredKeys: ['tcpSocket'] },
  ),
  fc.record({ exec: fc.record({ command: fc.array(fc.constantFrom('pg_isready', '', 'x'), { maxLength: 2 }) }) }),
  fc.record({ httpGet: fc.record({ port: fc.constant(80), host: fc.constant('metadata') }) }),
);

/**
 * What issue 19 keeps true of every pod we make, whatever the step said: the legacy token is
 * never mounted, every projected token has an audience and a lifetime within one day, no probe
 * names a host, no port is a host port, and only the step's own container mounts the token.
 */
export function workloadProblems(pod: V1Pod): string[] {
  const out: string[] = [];
  const spec = pod.spec;
  if (spec === undefined) return out;
  if (spec.automountServiceAccountToken !== false) out.push('automountServiceAccountToken is not false');
  const tokenVolumes = new Set<string>();
  for (const v of spec.volumes ?? []) {
    for (const s of v.projected?.sources ?? []) {
      const t = s.serviceAccountToken;
      if (t === undefined) continue;
      tokenVolumes.add(v.name);
      if (t.audience === undefined || t.audience === '') out.push(`${v.name}: token without audience`);
      if ((t.expirationSeconds ?? 3600) > 86_400) out.push(`${v.name}: token lives over a day`);
    }
  }
  for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
    for (const p of [c.readinessProbe, c.startupProbe, c.livenessProbe])
      if (p?.tcpSocket?.host !== undefined || p?.httpGet?.host !== undefined) out.push(`${c.name}: probe host`);
    if ((c.ports ?? []).some((p) => p.hostPort !== undefined)) out.push(`${c.name}: host port`);
    if (c.name !== 'step' && (c.volumeMounts ?? []).some((m) => tokenVolumes.has(m.name)))
      out.push(`${c.name}: mounts the step's token`);
  }
  return out;
}
