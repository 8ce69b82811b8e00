// Red team 14, finding 1. Class: an environment override that is not the value the operator
// wrote. The overrides were read as YAML scalars, so a text setting lost everything after ` #`
// (a comment), its quotes and its surrounding white space, and a number came from `0x10` or
// `0o17`; a value that is not one YAML scalar (`[x`, `@x`, `a\n---\nb`) threw out of loadConfig,
// and `serve` answered INTERNAL ("a bug") quoting the value instead of CONFIG_INVALID.
// Now: a text override is used exactly as written or refused (control characters, white space at
// either end); an integer override is decimal digits or refused; CONFIG_INVALID names the variable
// and the setting, never the value.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ENV_OVERRIDES, loadConfig } from '../../src/config/load.ts';
import { MINIMAL_CONFIG_YAML } from '../support/config.ts';

const minimal = MINIMAL_CONFIG_YAML;

/** Text settings the schema takes as any non-empty string: an override must land there verbatim. */
const FREE_TEXT: Readonly<Record<string, (c: ReturnType<typeof parsed>) => unknown>> = {
  KUBIYA_CONTROL_PLANE_ISSUER: (c) => c.controlPlane.issuer,
  KUBIYA_AUDIT_DIR: (c) => c.audit.dir,
  KUBIYA_POLICY_BUNDLE: (c) => c.policy.bundle,
  KUBIYA_KUBECONFIG: (c) => c.kubernetes.kubeconfig,
  KUBIYA_RUNNER_TOKEN_FILE: (c) => c.runner.tokenFile,
  KUBIYA_JWKS_FILE: (c) => c.controlPlane.jwksFile,
  KUBIYA_SERVER_HOST: (c) => c.server.host,
  RUNNER_TOKEN: (c) => c.runner.token,
};

function parsed(env: Record<string, string>) {
  const r = loadConfig(minimal, env);
  assert.ok(r.ok, r.ok ? '' : r.error.message);
  return r.value;
}

function refused(env: Record<string, string>): string {
  let r;
  assert.doesNotThrow(() => (r = loadConfig(minimal, env)), JSON.stringify(env));
  const result = r as unknown as ReturnType<typeof loadConfig>;
  assert.equal(result.ok, false, `accepted ${JSON.stringify(env)}`);
  if (result.ok) return '';
  assert.equal(result.error.code, 'CONFIG_INVALID');
  return result.error.message;
}

test('a text override is the value as written: comments, quotes, anchors, tags and numbers stay text', () => {
  const table: [string, string][] = [
    ['KUBIYA_CONTROL_PLANE_ISSUER', 'https://cp.example/ #tenant'],
    ['KUBIYA_CONTROL_PLANE_ISSUER', "'https://other'"],
    ['KUBIYA_CONTROL_PLANE_ISSUER', '&a x'],
    ['KUBIYA_CONTROL_PLANE_ISSUER', '!!str 12'],
    ['KUBIYA_CONTROL_PLANE_ISSUER', '12'],
    ['KUBIYA_CONTROL_PLANE_ISSUER', 'true'],
    ['KUBIYA_CONTROL_PLANE_ISSUER', 'null'],
    ['KUBIYA_CONTROL_PLANE_ISSUER', '[x'],
    ['KUBIYA_CONTROL_PLANE_ISSUER', '@x'],
    ['KUBIYA_CONTROL_PLANE_ISSUER', '{a: 1}'],
    ['KUBIYA_AUDIT_DIR', '/var/audit #old'],
    ['KUBIYA_POLICY_BUNDLE', '~'],
    ['KUBIYA_SERVER_HOST', '127.0.0.1 # local only'],
    ['RUNNER_TOKEN', '0123'],
  ];
  for (const [name, value] of table) {
    const read = FREE_TEXT[name]!;
    // Every value is a non-empty string, which each of these settings accepts as it is.
    assert.equal(read(parsed({ [name]: value })), value, `${name}=${JSON.stringify(value)}`);
  }
});

test('a text override with white space at an end or a control character is refused, naming the variable, not the value', () => {
  const table: [string, string][] = [
    ['KUBIYA_AUDIT_DIR', '  /var/audit  '],
    ['KUBIYA_RUNNER_TOKEN_FILE', '/tok\n'],
    ['RUNNER_TOKEN', 'secret-token-value\n'],
    ['RUNNER_TOKEN', 'secret-token-value\r\nX-Injected: 1'],
    ['KUBIYA_CONTROL_PLANE_ISSUER', 'a\n---\nb'],
    ['KUBIYA_POLICY_BUNDLE', '%YAML 1.1\n---\nx'],
    ['KUBIYA_LOG_LEVEL', ' debug'],
    ['KUBIYA_CONTROL_PLANE_ISSUER', 'https://cp\u0000.example'],
    ['KUBIYA_CONTROL_PLANE_ISSUER', 'https://cp\u0085.example'],
  ];
  for (const [name, value] of table) {
    const message = refused({ [name]: value });
    assert.match(message, new RegExp(name), `${name}=${JSON.stringify(value)}: ${message}`);
    assert.ok(!message.includes(value.trim()), `the message echoes the value: ${message}`);
  }
});

test('an integer override is decimal digits only', () => {
  assert.equal(parsed({ KUBIYA_SERVER_PORT: '9090' }).server.port, 9090);
  assert.equal(parsed({ KUBIYA_WORKFLOW_MAX_CONCURRENT: '16' }).runner.workflow.maxConcurrent, 16);
  for (const value of [
    '0x10',
    '0o17',
    '1e1',
    '8080.0',
    '+80',
    '-1',
    ' 80',
    '80 ',
    '80 # port',
    '1_000',
    '٨٠',
    'eighty',
  ])
    for (const name of ['KUBIYA_SERVER_PORT', 'KUBIYA_WORKFLOW_MAX_CONCURRENT']) {
      const message = refused({ [name]: value });
      assert.match(message, new RegExp(`${name}.*decimal`), `${name}=${JSON.stringify(value)}: ${message}`);
    }
});

test('an empty variable is as if unset (the file or the default stays)', () => {
  const c = parsed({ KUBIYA_AUDIT_DIR: '', KUBIYA_SERVER_PORT: '', RUNNER_TOKEN: '' });
  assert.equal(c.audit.dir, '/var/lib/kubiya/audit');
  assert.equal(c.server.port, 8080);
  assert.equal(c.runner.token, undefined);
});

test('property: any override of any variable never throws; it is the value as written, or CONFIG_INVALID', () => {
  const names = Object.keys(ENV_OVERRIDES);
  fc.assert(
    fc.property(
      fc.constantFrom(...names),
      fc.oneof(fc.string({ unit: 'binary', maxLength: 24 }), fc.stringMatching(/^[ -~\n#'"&*!%@[\]{}:-]{0,16}$/)),
      (name, value) => {
        let r: ReturnType<typeof loadConfig> | undefined;
        assert.doesNotThrow(() => (r = loadConfig(minimal, { [name]: value })));
        if (!r!.ok) {
          assert.equal(r!.error.code, 'CONFIG_INVALID');
          return;
        }
        if (value === '') return;
        const read = FREE_TEXT[name];
        if (read !== undefined) assert.equal(read(r!.value), value);
        if (name === 'KUBIYA_SERVER_PORT') assert.equal(String(r!.value.server.port), value);
      },
    ),
    { numRuns: 2000 },
  );
});
