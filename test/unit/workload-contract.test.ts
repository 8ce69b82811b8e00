/**
 * The workload fields of a step (src/validate/workload.ts: pull secrets, node placement, the step's
 * identity, sidecar ports and readiness) at each bound and with each rule's own message (issue 15
 * item 6: the mutants `workload.test.ts` let live, which checks that a value is refused, not where
 * or why).
 *
 * The class of fault: a bound off by one (one pull secret, label, toleration, port, probe second
 * or token second more than documented), an anchor dropped from a name pattern (a name that only
 * contains a valid one), a cross-field rule that no longer fires (a value with `Exists`, seconds
 * without NoExecute, a duplicate port, a probe on an undeclared port, a mount over the token's
 * directory), or a refusal at the wrong path or with the wrong reason. Variants: every count and
 * length bound at its edge (accepted) and one past it (refused at the field's path); each pattern
 * with a bad first, last and middle character; each cross-field rule firing and not firing.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { validate } from '../../src/validate/validate.ts';
import { labelKeyProblem, SERVICE_ACCOUNT_TOKEN_DIR, WORKLOAD_LIMITS } from '../../src/validate/workload.ts';

const R = { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } };
const STEP = 'workflow.steps.0';

/** The issues of a workflow whose one step has these fields ([] when it is valid). */
function issues(fields: Record<string, unknown>): { path: string; message: string }[] {
  const r = validate({
    id: 'w',
    name: 'w',
    runId: 'r1',
    steps: [{ name: 's', image: 'x:1', resources: R, ...fields }],
  });
  if (r.ok) return [];
  assert.equal(r.error.code, 'VALIDATE_SCHEMA', r.error.message);
  return [...(r.error.details?.issues ?? [])];
}

/** `fields` is refused, its first issue at `path` (and with `message` when given). */
function refusedAt(fields: Record<string, unknown>, path: string, message?: string): void {
  const found = issues(fields);
  assert.ok(found.length > 0, `accepted: ${JSON.stringify(fields).slice(0, 200)}`);
  assert.equal(found[0]?.path, path, JSON.stringify(found));
  if (message !== undefined) assert.equal(found[0]?.message, message);
}

const accepted = (fields: Record<string, unknown>): void =>
  assert.deepEqual(issues(fields), [], JSON.stringify(fields).slice(0, 200));

const names = (n: number, prefix = 's'): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`);
const SUBDOMAIN = 'must be a DNS subdomain: lower-case letters, digits, "-" and ".", starting and ending alphanumeric';

describe('workload: the bounds, each at its edge and one past', () => {
  test('the limits are the documented ones', () =>
    assert.deepEqual(
      { ...WORKLOAD_LIMITS },
      { pullSecrets: 8, nodeSelector: 16, tolerations: 16, ports: 16, tokenMinSeconds: 600, tokenMaxSeconds: 86_400 },
    ));

  test('imagePullSecrets: 1 to 8, each once', () => {
    accepted({ imagePullSecrets: ['a'] });
    accepted({ imagePullSecrets: names(8) });
    refusedAt({ imagePullSecrets: [] }, `${STEP}.imagePullSecrets`);
    refusedAt({ imagePullSecrets: names(9) }, `${STEP}.imagePullSecrets`);
    refusedAt({ imagePullSecrets: ['a', 'b', 'a'] }, `${STEP}.imagePullSecrets`, 'each pull secret at most once');
  });

  test('a DNS subdomain: 253 characters, dotted labels; anchored at both ends', () => {
    accepted({ imagePullSecrets: ['a.b-c.d0'] });
    accepted({ imagePullSecrets: ['a'.repeat(253)] });
    accepted({ serviceAccount: 'x' });
    refusedAt({ imagePullSecrets: ['a'.repeat(254)] }, `${STEP}.imagePullSecrets.0`);
    refusedAt({ imagePullSecrets: [''] }, `${STEP}.imagePullSecrets.0`);
    for (const bad of ['A', '-a', 'a-', 'a.', '.a', 'a..b', 'a_b', 'a b', 'a.-b', 'a-.b'])
      refusedAt({ imagePullSecrets: [bad] }, `${STEP}.imagePullSecrets.0`, SUBDOMAIN);
  });

  test('nodeSelector: 1 to 16 labels; a value of 0 to 63 characters', () => {
    const labels = (n: number) => Object.fromEntries(names(n, 'k').map((k) => [k, 'v']));
    accepted({ nodeSelector: labels(1) });
    accepted({ nodeSelector: labels(16) });
    refusedAt({ nodeSelector: {} }, `${STEP}.nodeSelector`, 'at least one label');
    refusedAt({ nodeSelector: labels(17) }, `${STEP}.nodeSelector`, 'at most 16 labels');
    accepted({ nodeSelector: { k: '' } });
    accepted({ nodeSelector: { k: `A${'-_.'.repeat(20)}z0` } });
    accepted({ nodeSelector: { k: 'x'.repeat(63) } });
    refusedAt({ nodeSelector: { k: 'x'.repeat(64) } }, `${STEP}.nodeSelector.k`);
    for (const bad of ['-a', 'a-', '.a', 'a.', 'a b', 'a/b'])
      refusedAt(
        { nodeSelector: { k: bad } },
        `${STEP}.nodeSelector.k`,
        'must be a label value: at most 63 letters, digits, "-", "_", "."',
      );
  });

  test('tolerations: 1 to 16; seconds 0 to 86400, with NoExecute only', () => {
    const t = { key: 'k', effect: 'NoExecute' };
    accepted({ tolerations: [t] });
    accepted({ tolerations: Array.from({ length: 16 }, () => t) });
    refusedAt({ tolerations: [] }, `${STEP}.tolerations`);
    refusedAt({ tolerations: Array.from({ length: 17 }, () => t) }, `${STEP}.tolerations`);
    accepted({ tolerations: [{ ...t, tolerationSeconds: 0 }] });
    accepted({ tolerations: [{ ...t, tolerationSeconds: 86_400 }] });
    refusedAt({ tolerations: [{ ...t, tolerationSeconds: 86_401 }] }, `${STEP}.tolerations.0.tolerationSeconds`);
    refusedAt({ tolerations: [{ ...t, tolerationSeconds: -1 }] }, `${STEP}.tolerations.0.tolerationSeconds`);
  });

  test('a projected token: an audience of 1 to 253 printable ASCII characters, 600 s to one day, env a C identifier', () => {
    const sa = (token: Record<string, unknown>) => ({ serviceAccount: { name: 'sa', token } });
    accepted(sa({ audience: 'a' }));
    accepted(sa({ audience: `!${'x'.repeat(251)}~` }));
    accepted(sa({ audience: 'a', expirationSeconds: 600 }));
    accepted(sa({ audience: 'a', expirationSeconds: 86_400 }));
    accepted(sa({ audience: 'a', env: `_${'A9'.repeat(127)}z` }));
    accepted(sa({ audience: 'a', env: 'T' }));
    const at = `${STEP}.serviceAccount.token`;
    const rows: [Record<string, unknown>, string][] = [
      [{ audience: '' }, `${at}.audience`],
      [{ audience: 'x'.repeat(254) }, `${at}.audience`],
      [{ audience: 'a b' }, `${at}.audience`],
      [{ audience: ' ab' }, `${at}.audience`],
      [{ audience: 'ab ' }, `${at}.audience`],
      [{ audience: 'é' }, `${at}.audience`],
      [{ audience: 'a', expirationSeconds: 599 }, `${at}.expirationSeconds`],
      [{ audience: 'a', expirationSeconds: 86_401 }, `${at}.expirationSeconds`],
      [{ audience: 'a', env: '' }, `${at}.env`],
      [{ audience: 'a', env: `A${'B'.repeat(256)}` }, `${at}.env`],
      [{ audience: 'a', env: '1A' }, `${at}.env`],
      [{ audience: 'a', env: 'A-B' }, `${at}.env`],
      [{ audience: 'a', env: 'AB-' }, `${at}.env`],
      [{ audience: 'a', other: 1 }, at],
    ];
    for (const [token, path] of rows) refusedAt(sa(token), path);
    for (const bad of [' ab', 'ab ', 'é'])
      refusedAt(sa({ audience: bad }), `${at}.audience`, 'must be printable ASCII without spaces');
    for (const bad of ['1A', 'A-B', 'AB-'])
      refusedAt(sa({ audience: 'a', env: bad }), `${at}.env`, 'must be a C identifier');
  });

  test('sidecar ports: 1 to 16, each 1 to 65535; a name of 1 to 15 with a letter and no "--"', () => {
    const sc = (ports: unknown, more: Record<string, unknown> = {}) => ({
      sidecars: [{ name: 'db', image: 'x:1', ports, ...more }],
    });
    const at = `${STEP}.sidecars.0.ports`;
    accepted(sc([{ port: 1 }, { port: 65_535, name: 'a'.repeat(15), protocol: 'SCTP' }]));
    accepted(sc(Array.from({ length: 16 }, (_, i) => ({ port: i + 1 }))));
    refusedAt(sc([]), at);
    refusedAt(sc(Array.from({ length: 17 }, (_, i) => ({ port: i + 1 }))), at);
    refusedAt(sc([{ port: 0 }]), `${at}.0.port`);
    refusedAt(sc([{ port: 65_536 }]), `${at}.0.port`);
    refusedAt(sc([{ port: 1, name: 'a'.repeat(16) }]), `${at}.0.name`);
    refusedAt(sc([{ port: 1, name: '' }]), `${at}.0.name`);
    for (const bad of ['A', '-a', 'a-', 'a_b', 'a.b'])
      refusedAt(
        sc([{ port: 1, name: bad }]),
        `${at}.0.name`,
        'must be a port name: lower-case letters, digits and "-"',
      );
    for (const bad of ['123', 'a--b', '1--2'])
      refusedAt(sc([{ port: 1, name: bad }]), `${at}.0.name`, 'must hold a letter and no "--"');
    accepted(sc([{ port: 1, name: '1a-2' }]));
    refusedAt(sc([{ port: 1, protocol: 'ICMP' }]), `${at}.0.protocol`);
  });

  test('a readiness probe: each timing field at its bounds; exec takes 1 to 64 arguments', () => {
    const sc = (readinessProbe: unknown) => ({
      sidecars: [{ name: 'db', image: 'x:1', ports: [{ port: 5432, name: 'pg' }], readinessProbe }],
    });
    const at = `${STEP}.sidecars.0.readinessProbe`;
    const tcp = { tcpSocket: { port: 5432 } };
    const edges: [string, number, number, number, number][] = [
      ['initialDelaySeconds', 0, 3600, -1, 3601],
      ['periodSeconds', 1, 300, 0, 301],
      ['timeoutSeconds', 1, 300, 0, 301],
      ['failureThreshold', 1, 120, 0, 121],
    ];
    for (const [field, min, max, under, over] of edges) {
      accepted(sc({ ...tcp, [field]: min }));
      accepted(sc({ ...tcp, [field]: max }));
      refusedAt(sc({ ...tcp, [field]: under }), `${at}.${field}`);
      refusedAt(sc({ ...tcp, [field]: over }), `${at}.${field}`);
    }
    accepted(sc({ exec: { command: ['pg_isready'] } }));
    accepted(sc({ exec: { command: Array.from({ length: 64 }, () => 'x'.repeat(8192)) } }));
    // A union: zod names the branch's field when one branch is close, else the probe itself.
    const refusedUnder = (fields: Record<string, unknown>): void => {
      const path = issues(fields)[0]?.path ?? 'accepted';
      assert.ok(path === at || path.startsWith(`${at}.`), path);
    };
    refusedUnder(sc({ exec: { command: [] } }));
    refusedUnder(sc({ exec: { command: Array.from({ length: 65 }, () => 'x') } }));
    refusedUnder(sc({ exec: { command: ['x'.repeat(8193)] } }));
    for (const port of [0, 65_536, '', 'a'.repeat(16)]) refusedUnder(sc({ tcpSocket: { port } }));
  });
});

describe('workload: the rules that span fields, each firing and not', () => {
  test('a toleration: Exists with no value (or an empty one); seconds only with NoExecute; key and effect required', () => {
    const at = `${STEP}.tolerations.0`;
    accepted({ tolerations: [{ key: 'k', operator: 'Exists', effect: 'NoSchedule' }] });
    accepted({ tolerations: [{ key: 'k', operator: 'Exists', value: '', effect: 'NoSchedule' }] });
    accepted({ tolerations: [{ key: 'k', operator: 'Equal', value: 'v', effect: 'PreferNoSchedule' }] });
    accepted({ tolerations: [{ key: 'k', value: 'v', effect: 'NoSchedule' }] });
    refusedAt(
      { tolerations: [{ key: 'k', operator: 'Exists', value: 'v', effect: 'NoSchedule' }] },
      `${at}.value`,
      'operator Exists takes no value',
    );
    for (const effect of ['NoSchedule', 'PreferNoSchedule'])
      refusedAt(
        { tolerations: [{ key: 'k', effect, tolerationSeconds: 5 }] },
        `${at}.tolerationSeconds`,
        'only with effect NoExecute',
      );
    refusedAt({ tolerations: [{ effect: 'NoSchedule' }] }, `${at}.key`);
    refusedAt({ tolerations: [{ key: 'k' }] }, `${at}.effect`);
    refusedAt({ tolerations: [{ key: 'k', effect: 'Other' }] }, `${at}.effect`);
    refusedAt({ tolerations: [{ key: 'k', operator: 'In', effect: 'NoSchedule' }] }, `${at}.operator`);
  });

  test('a label key: [prefix/]name, the name 1 to 63, the prefix a DNS subdomain of at most 253', () => {
    const NAME = 'the name part must be 1-63 letters, digits, "-", "_" or ".", starting and ending alphanumeric';
    const PREFIX = 'the prefix must be a DNS subdomain';
    const rows: [string, string | undefined][] = [
      ['a', undefined],
      ['A.b_c-D9', undefined],
      ['x'.repeat(63), undefined],
      [`${'p'.repeat(253)}/${'n'.repeat(63)}`, undefined],
      ['kubernetes.io/hostname', undefined],
      ['a/b/c', 'must be [prefix/]name with at most one "/"'],
      ['x'.repeat(64), NAME],
      ['', NAME],
      ['a/', NAME],
      ['-a', NAME],
      ['a-', NAME],
      ['a b', NAME],
      [`p/${'n'.repeat(64)}`, NAME],
      ['/a', PREFIX],
      [`${'p'.repeat(254)}/a`, PREFIX],
      ['Example.com/a', PREFIX],
      ['-p/a', PREFIX],
      ['p-/a', PREFIX],
      ['p..q/a', PREFIX],
    ];
    for (const [key, problem] of rows) assert.equal(labelKeyProblem(key), problem, key);
    // A toleration's key is a field, so the rule's own message is the issue's.
    refusedAt({ tolerations: [{ key: 'a/b/c', effect: 'NoSchedule' }] }, `${STEP}.tolerations.0.key`, rows[5]?.[1]);
    refusedAt({ tolerations: [{ key: '/a', effect: 'NoSchedule' }] }, `${STEP}.tolerations.0.key`, PREFIX);
    refusedAt({ tolerations: [{ key: 'x'.repeat(318), effect: 'NoSchedule' }] }, `${STEP}.tolerations.0.key`);
    accepted({ tolerations: [{ key: `${'p'.repeat(253)}/${'n'.repeat(63)}`, effect: 'NoSchedule' }] });
    accepted({ nodeSelector: { [`${'p'.repeat(253)}/${'n'.repeat(63)}`]: 'v' } });
    refusedAt({ nodeSelector: { 'a/b/c': 'v' } }, `${STEP}.nodeSelector.a/b/c`);
  });

  test('sidecar ports: a name once, a number once per protocol (TCP when none is given)', () => {
    const at = `${STEP}.sidecars.0.ports`;
    const sc = (ports: unknown) => ({ sidecars: [{ name: 'db', image: 'x:1', ports }] });
    accepted(sc([{ port: 53 }, { port: 53, protocol: 'UDP' }, { port: 53, protocol: 'SCTP' }]));
    accepted(sc([{ port: 1, name: 'a' }, { port: 2, name: 'b' }, { port: 3 }, { port: 4 }]));
    refusedAt(
      sc([{ port: 1, name: 'a' }, { port: 2 }, { port: 3, name: 'a' }]),
      `${at}.2.name`,
      'duplicate port name "a"',
    );
    refusedAt(sc([{ port: 80 }, { port: 81 }, { port: 80, protocol: 'TCP' }]), `${at}.2.port`, 'duplicate port 80/TCP');
    refusedAt(
      sc([
        { port: 80, protocol: 'UDP' },
        { port: 80, protocol: 'UDP' },
      ]),
      `${at}.1.port`,
      'duplicate port 80/UDP',
    );
  });

  test('a TCP probe names a port the sidecar declares, by number or by name', () => {
    const at = `${STEP}.sidecars.1.readinessProbe.tcpSocket.port`;
    const sc = (port: unknown, ports?: unknown) => ({
      sidecars: [
        { name: 'other', image: 'x:1', ports: [{ port: 9, name: 'nine' }] },
        { name: 'db', image: 'x:1', ports, readinessProbe: { tcpSocket: { port } } },
      ],
    });
    accepted(sc(5432, [{ port: 1 }, { port: 5432 }]));
    accepted(
      sc('pg', [
        { port: 1, name: 'x' },
        { port: 5432, name: 'pg' },
      ]),
    );
    accepted({ sidecars: [{ name: 'db', image: 'x:1', readinessProbe: { exec: { command: ['true'] } } }] });
    refusedAt(sc(5433, [{ port: 5432, name: 'pg' }]), at, "port 5433 is not one of the sidecar's ports");
    refusedAt(sc('db', [{ port: 5432, name: 'pg' }]), at, "port db is not one of the sidecar's ports");
    refusedAt(sc(9), at, "port 9 is not one of the sidecar's ports");
    refusedAt(sc('nine'), at, "port nine is not one of the sidecar's ports");
    refusedAt(sc('5432', [{ port: 5432 }]), at, "port 5432 is not one of the sidecar's ports");
  });

  test("a projected token: its env variable not set by the step's env; no workflow volume at, under or over its directory", () => {
    const token = { name: 'sa', token: { audience: 'a', env: 'TOKEN_FILE' } };
    const vol = (mount: string) => ({
      volumes: [{ name: 'v', mount, volume: 'data' }],
    });
    const check = (fields: Record<string, unknown>) =>
      validate({
        id: 'w',
        name: 'w',
        runId: 'r1',
        volumes: [{ name: 'data', size: '1Gi' }],
        steps: [{ name: 's', image: 'x:1', ...fields }],
      });
    const issuesOf = (fields: Record<string, unknown>) => {
      const r = check(fields);
      return r.ok ? [] : r.error.details?.issues;
    };
    assert.deepEqual(issuesOf({ serviceAccount: token, env: { OTHER: 'x' } }), []);
    assert.deepEqual(issuesOf({ serviceAccount: token, env: { TOKEN_FILE: 'x' } }), [
      {
        path: `${STEP}.serviceAccount.token.env`,
        message: 'env variable "TOKEN_FILE" is already set by the step\'s env',
      },
    ]);
    assert.deepEqual(
      issuesOf({ serviceAccount: { name: 'sa', token: { audience: 'a' } }, env: { TOKEN_FILE: 'x' } }),
      [],
    );
    const message = `must not be at, under or over the service account token's directory ${SERVICE_ACCOUNT_TOKEN_DIR}`;
    for (const mount of [SERVICE_ACCOUNT_TOKEN_DIR, `${SERVICE_ACCOUNT_TOKEN_DIR}/x`, '/var/run/secrets', '/var'])
      assert.deepEqual(
        issuesOf({ serviceAccount: token, ...vol(mount) }),
        [{ path: `${STEP}.volumes.0.mount`, message }],
        mount,
      );
    for (const fields of [
      { serviceAccount: token, ...vol('/var/run/secrets/other') },
      { serviceAccount: 'sa', ...vol(SERVICE_ACCOUNT_TOKEN_DIR) },
      { serviceAccount: { name: 'sa' }, ...vol(SERVICE_ACCOUNT_TOKEN_DIR) },
      { ...vol(SERVICE_ACCOUNT_TOKEN_DIR) },
    ])
      assert.deepEqual(issuesOf(fields), [], JSON.stringify(fields));
  });
});
