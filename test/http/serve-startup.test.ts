/**
 * A runner that cannot start, stops (issue 13 §4). The class: every fatal start-up error of
 * `serve` exits 2 with its code BEFORE anything acts — no Lease election, no reconcile, no audit
 * record or checkpoint, no control-plane call — and leaves nothing behind (the audit lock is
 * released, the port is free). Reported example: a taken port logged STARTUP_FAILED and the
 * process kept running, electing, reconciling and writing audit records.
 *
 * One case per start-up failure path of src/cli/serve.ts and src/app/server.ts: unreadable config,
 * kubeconfig, JWKS (missing, empty), policy bundle (missing, corrupt), checkpoint signing key
 * (missing, not Ed25519), runner token (missing with a control plane, unreadable file), the audit
 * directory (locked by a live writer, not creatable), the port (taken). Each runs the real `serve`
 * process. An API server that cannot be reached is NOT fatal: the runner starts, reports not ready
 * (`/ready` apiServer check) and recovers by itself when it comes back (test/cluster/serve.test.ts).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { stringify } from 'yaml';
import { FileAuditLog } from '../../src/adapters/audit-file.ts';
import { buildBundle } from '../../src/adapters/bundle-build.ts';
import { checkpointSigningKey } from '../../src/audit/keys.ts';
import { REPO_ROOT, resolveTools } from '../../src/adapters/tools.ts';
import { childEnd } from '../support/child-end.ts';

const tools = resolveTools(['opa']);
if (!tools.ok) throw new Error(tools.error.message);

interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `serve --config <file>` to its end, its output read to the end (killed after 30 s: a runner that stays up fails the test). */
async function serve(configFile: string): Promise<Outcome> {
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'kubiya-runner.js'), 'serve', '--config', configFile], {
    env: { PATH: process.env.PATH ?? '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const { code } = await childEnd(child, { killAfterMs: 30_000 });
  return { code, stdout, stderr };
}

describe('serve: every fatal start-up error exits 2 before anything starts', () => {
  let work: string;
  let bundle: string;
  let jwks: string;
  let kubeconfig: string;
  let signingKey: string;
  let portHolder: Server;
  let takenPort: number;
  let n = 0;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'kubiya-startup-'));
    bundle = (await buildBundle(tools.value.opa, join(REPO_ROOT, 'policies'), join(work, 'bundle.tar.gz'))).file;
    jwks = join(work, 'jwks.json');
    await writeFile(
      jwks,
      JSON.stringify({
        keys: [{ kty: 'OKP', crv: 'Ed25519', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo', kid: 'k' }],
      }),
    );
    kubeconfig = join(work, 'kubeconfig');
    // An API server that is not there: start-up must not get as far as talking to it in most cases.
    await writeFile(
      kubeconfig,
      'apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n',
    );
    signingKey = join(work, 'signing.pem');
    await writeFile(signingKey, generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }));
    portHolder = createServer();
    await new Promise<void>((r) => portHolder.listen(0, '127.0.0.1', () => r()));
    takenPort = (portHolder.address() as { port: number }).port;
  });
  after(async () => {
    portHolder.close();
    await rm(work, { recursive: true, force: true });
  });

  /** A configuration that gets as far as possible, with `over` applied; its own audit directory. */
  async function configWith(
    over: (c: Record<string, Record<string, unknown>>) => void | Promise<void>,
  ): Promise<{ file: string; audit: string }> {
    const audit = join(work, `audit-${++n}`);
    const c: Record<string, Record<string, unknown>> = {
      runner: { name: 'r' },
      controlPlane: { issuer: 'x', jwksFile: jwks },
      policy: { bundle },
      audit: { dir: audit, checkpoint: { signingKeyFile: signingKey, interval: 1 } },
      kubernetes: { kubeconfig },
      server: { port: 0, host: '127.0.0.1' },
    };
    await over(c);
    const file = join(work, `runner-${n}.yaml`);
    await writeFile(file, stringify(c));
    return { file, audit };
  }

  /** Nothing was written to the audit directory, and no lock is left behind. */
  async function untouched(audit: string): Promise<void> {
    const files = await readdir(audit).catch(() => [] as string[]);
    for (const f of files) {
      if (f.startsWith('segment-')) {
        const { size } = await stat(join(audit, f));
        assert.equal(size, 0, `${f} holds no record`);
        continue;
      }
      assert.fail(`unexpected file left in the audit directory: ${f}`);
    }
  }

  const cases: [string, (c: Record<string, Record<string, unknown>>) => void | Promise<void>, string, RegExp][] = [
    [
      'kubeconfig missing',
      (c) => {
        c.kubernetes = { kubeconfig: join(work, 'nope.kubeconfig') };
      },
      'STARTUP_FAILED',
      /nope\.kubeconfig/,
    ],
    [
      'JWKS file missing',
      (c) => {
        c.controlPlane = { issuer: 'x', jwksFile: join(work, 'nope.json') };
      },
      'STARTUP_FAILED',
      /nope\.json/,
    ],
    [
      'JWKS file without keys',
      async (c) => {
        await writeFile(join(work, 'empty.json'), '{"keys":[]}');
        c.controlPlane = { issuer: 'x', jwksFile: join(work, 'empty.json') };
      },
      'STARTUP_FAILED',
      /holds no keys/,
    ],
    [
      'policy bundle missing',
      (c) => {
        c.policy = { bundle: join(work, 'missing.tar.gz') };
      },
      'STARTUP_FAILED',
      /missing\.tar\.gz/,
    ],
    [
      'policy bundle corrupt',
      async (c) => {
        await writeFile(join(work, 'corrupt.tar.gz'), 'not a bundle');
        c.policy = { bundle: join(work, 'corrupt.tar.gz') };
      },
      'STARTUP_FAILED',
      /./,
    ],
    [
      'checkpoint signing key missing',
      (c) => {
        (c.audit as { checkpoint: Record<string, unknown> }).checkpoint.signingKeyFile = join(work, 'nope.pem');
      },
      'STARTUP_FAILED',
      /nope\.pem/,
    ],
    [
      'checkpoint signing key not Ed25519',
      async (c) => {
        await writeFile(
          join(work, 'ec.pem'),
          generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }),
        );
        (c.audit as { checkpoint: Record<string, unknown> }).checkpoint.signingKeyFile = join(work, 'ec.pem');
      },
      'STARTUP_FAILED',
      /Ed25519/,
    ],
    [
      'control plane without a runner token',
      (c) => {
        c.controlPlane = { issuer: 'x', jwksFile: jwks, url: 'http://127.0.0.1:1' };
      },
      'STARTUP_FAILED',
      /no runner token/,
    ],
    [
      'runner token file unreadable',
      (c) => {
        c.runner = { name: 'r', tokenFile: join(work, 'nope.token') };
        c.controlPlane = { issuer: 'x', jwksFile: jwks, url: 'http://127.0.0.1:1' };
      },
      'STARTUP_FAILED',
      /nope\.token/,
    ],
    [
      'audit directory cannot be created',
      async (c) => {
        await writeFile(join(work, 'a-file'), '');
        c.audit = { dir: join(work, 'a-file', 'audit') };
      },
      'STARTUP_FAILED',
      /a-file/,
    ],
    [
      'port taken',
      (c) => {
        c.server = { port: takenPort, host: '127.0.0.1' };
      },
      'STARTUP_FAILED',
      /EADDRINUSE/,
    ],
  ];

  for (const [name, change, code, message] of cases) {
    test(`${name} → exit 2, ${code}, nothing started, nothing left behind`, async () => {
      const { file, audit } = await configWith(change);
      const out = await serve(file);
      assert.equal(out.code, 2, `exit code; stderr: ${out.stderr}`);
      assert.match(out.stderr, new RegExp(`^${code}: `, 'm'));
      assert.match(out.stderr, message);
      assert.ok(!out.stdout.includes('runner listening'), 'it never said it was listening');
      assert.ok(!/lease|reconcil/i.test(out.stdout), 'no Lease, no reconcile');
      await untouched(audit);
    });
  }

  // Red team 17, finding 8: an unsigned checkpoint line with this key's kid stopped checkpointing in
  // silence (and a torn one gave `STARTUP_FAILED: Unterminated string in JSON`, naming no file).
  test('a last checkpoint line this key did not sign → exit 2, AUDIT_RESUME_REFUSED naming checkpoints.jsonl', async () => {
    const { file, audit } = await configWith(() => undefined);
    const log = await FileAuditLog.open(audit);
    await log.append({
      decision_id: 'd',
      timestamp: new Date().toISOString(),
      stage: 'verify',
      outcome: 'allow',
      message: 'm',
      runner: 'r',
      labels: { runner: 'r' },
    });
    await log.close();
    const { kid } = checkpointSigningKey(await readFile(signingKey, 'utf8'));
    const forged = { seq: 999999999, head: '0'.repeat(64), time: '2026-12-03T10:00:00.000Z', kid, sig: 'AAAA' };
    await writeFile(join(audit, 'checkpoints.jsonl'), `${JSON.stringify(forged)}\n`);
    const out = await serve(file);
    assert.equal(out.code, 2, out.stderr);
    assert.match(
      out.stderr,
      /^AUDIT_RESUME_REFUSED: .*checkpoints\.jsonl: its last line \(checkpoint for seq 999999999\)/m,
    );
  });

  test('audit directory locked by a live writer → exit 2, AUDIT_LOCKED, at once; the holder keeps its lock and its log', async () => {
    const { file, audit } = await configWith(() => undefined);
    await mkdir(audit, { recursive: true });
    const holder = await FileAuditLog.open(audit);
    await holder.append({
      decision_id: 'd',
      timestamp: new Date().toISOString(),
      stage: 'verify',
      outcome: 'allow',
      message: 'm',
      runner: 'r',
      labels: { runner: 'r' },
    });
    try {
      const out = await serve(file);
      assert.equal(out.code, 2, out.stderr);
      assert.match(out.stderr, /^AUDIT_LOCKED: .*live writer \(PID \d+/m);
      // Refused, not waited for: a serve that waited on the lock would be killed at 30 s (code null, not 2).
      assert.equal(holder.locked, true, 'the holder still holds its lock');
      assert.equal(
        (
          await holder.append({
            decision_id: 'e',
            timestamp: new Date().toISOString(),
            stage: 'verify',
            outcome: 'allow',
            message: 'm',
            runner: 'r',
            labels: { runner: 'r' },
          })
        ).seq,
        2,
      );
    } finally {
      await holder.close();
    }
  });
});
