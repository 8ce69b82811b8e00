/**
 * Every command and setting that takes a file's path, given one that is not a regular file or a
 * pipe (the class of test/unit/operator-file.test.ts; reported example, red team 14, finding 5:
 * `audit verify --public-key <FIFO>` waited for ever and SIGTERM did not end it). Each row runs the
 * real CLI process with a symlink to /dev/zero where a file belongs (read without end by a plain
 * read: each row failed so on the code before) and must end with exit 2, its stable code and a
 * reason naming the path; a few rows also with a FIFO no one writes to (ends after the 10 s pipe
 * deadline) and with a sparse file of 8 GiB (over every bound). A key given as a pipe still works.
 * And the sibling for directories opa reads itself (`--policies`): a FIFO, a symlink to /dev/zero
 * or a 100 MiB sparse file among the policies is refused before opa runs (a FIFO or /dev/zero held
 * `policy build` past a 20 s timeout on the code before).
 * `serve`'s rows change one path of a configuration that otherwise starts (STARTUP_FAILED before
 * anything starts, as test/http/serve-startup.test.ts checks for missing files).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { closeSync, constants, openSync } from 'node:fs';
import { mkdtemp, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { stringify } from 'yaml';
import { FileAuditLog } from '../../src/adapters/audit-file.ts';
import { buildBundle } from '../../src/adapters/bundle-build.ts';
import { REPO_ROOT, resolveTools } from '../../src/adapters/tools.ts';
import { runCli, type CliEnd } from '../support/cli-run.ts';
import { childEnd } from '../support/child-end.ts';
import { auditEntry } from '../support/audit-entries.ts';

const tools = resolveTools(['opa']);
if (!tools.ok) throw new Error(tools.error.message);

const CLI = join(REPO_ROOT, 'bin', 'kubiya-runner.js');
const STEP = join(REPO_ROOT, 'examples', 'node-build.yaml');
let work = '';
let fifo = '';
let zero = '';
let sparse = '';
let bundle = '';
let auditDir = '';
const files: Record<string, string> = {};
let configs = 0;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'kubiya-operator-files-'));
  fifo = join(work, 'fifo');
  execFileSync('mkfifo', [fifo]);
  zero = join(work, 'zero');
  await symlink('/dev/zero', zero);
  sparse = join(work, 'sparse');
  await writeFile(sparse, '');
  await truncate(sparse, 8 * 1024 * 1024 * 1024);
  bundle = (await buildBundle(tools.value.opa, join(REPO_ROOT, 'policies'), join(work, 'bundle.tar.gz'))).file;
  auditDir = join(work, 'audit');
  const log = await FileAuditLog.open(auditDir);
  await log.append(auditEntry(0));
  await log.close();
  files.jwks = join(work, 'jwks.json');
  await writeFile(
    files.jwks,
    JSON.stringify({
      keys: [{ kty: 'OKP', crv: 'Ed25519', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo', kid: 'k' }],
    }),
  );
  files.kubeconfig = join(work, 'kubeconfig');
  await writeFile(
    files.kubeconfig,
    'apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n',
  );
  files.signingKey = join(work, 'signing.pem');
  await writeFile(
    files.signingKey,
    generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
  );
});
after(async () => rm(work, { recursive: true, force: true }));

/** Unblocks a process stuck in open(2) of the FIFO (so a failing row ends instead of hanging). */
function release(): void {
  try {
    closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
  } catch {
    // ENXIO: no reader waits on it.
  }
}

/**
 * Runs the CLI with `args` to its end; after `hungAfterMs` (15 s) it is released, then killed, and
 * reported as hung. A FIFO row's correct end comes only after the 10 s pipe deadline, on top of the
 * command's start: its bound is 25 s (15 s left a loaded machine ~5 s to start `serve`, seen missed once).
 */
const cli = (args: string[], hungAfterMs = 15_000): Promise<CliEnd> =>
  runCli(args, { cwd: work, hungAfterMs, onHung: release });

/** A `serve` configuration that starts (as far as these tests go) with `over` applied; written to a file. */
async function serveConfig(name: string, over: (c: Record<string, Record<string, unknown>>) => void): Promise<string> {
  const c: Record<string, Record<string, unknown>> = {
    runner: { name: 'r' },
    controlPlane: { issuer: 'x', jwksFile: files.jwks },
    policy: { bundle },
    audit: {
      dir: join(work, `audit-${name}-${configs}`),
      checkpoint: { signingKeyFile: files.signingKey, interval: 1 },
    },
    kubernetes: { kubeconfig: files.kubeconfig },
    server: { port: 0, host: '127.0.0.1' },
  };
  over(c);
  const file = join(work, `runner-${name}-${++configs}.yaml`);
  await writeFile(file, stringify(c));
  return file;
}

type Row = [name: string, args: (path: string) => string[] | Promise<string[]>, code: string];

const ROWS: Row[] = [
  ['serve --config', (p) => ['serve', '--config', p], 'CONFIG_INVALID'],
  ['audit verify --public-key', (p) => ['audit', 'verify', auditDir, '--public-key', p], 'AUDIT_READ_FAILED'],
  ['audit verify --against', (p) => ['audit', 'verify', auditDir, '--against', p], 'AUDIT_QUERY_INVALID'],
  [
    'policy replay --public-key',
    (p) => ['policy', 'replay', '--audit', auditDir, '--bundle', bundle, '--public-key', p],
    'AUDIT_READ_FAILED',
  ],
  [
    'policy build --signing-key',
    (p) => ['policy', 'build', '--signing-key', p, '--out', join(work, 'b.tgz')],
    'CONFIG_INVALID',
  ],
  ['policy build --data', (p) => ['policy', 'build', '--data', p, '--out', join(work, 'b.tgz')], 'CONFIG_INVALID'],
  ['policy build --values', (p) => ['policy', 'build', '--values', p, '--out', join(work, 'b.tgz')], 'CONFIG_INVALID'],
  ['policy eval <file>', (p) => ['policy', 'eval', p, '--bundle', bundle], 'VALIDATE_SCHEMA'],
  ['policy eval --bundle', (p) => ['policy', 'eval', STEP, '--bundle', p], 'POLICY_NOT_LOADED'],
  ['policy eval --data', (p) => ['policy', 'eval', STEP, '--bundle', bundle, '--data', p], 'CONFIG_INVALID'],
  ['policy eval --config', (p) => ['policy', 'eval', STEP, '--bundle', bundle, '--config', p], 'CONFIG_INVALID'],
  ['policy eval --values', (p) => ['policy', 'eval', STEP, '--bundle', bundle, '--values', p], 'CONFIG_INVALID'],
  [
    'policy eval --verification-key',
    (p) => ['policy', 'eval', STEP, '--bundle', bundle, '--verification-key', p],
    'CONFIG_INVALID',
  ],
  [
    'serve: controlPlane.jwksFile',
    async (p) => ['serve', '--config', await serveConfig('jwks', (c) => (c.controlPlane!.jwksFile = p))],
    'STARTUP_FAILED',
  ],
  [
    'serve: runner.tokenFile',
    async (p) => ['serve', '--config', await serveConfig('token', (c) => (c.runner!.tokenFile = p))],
    'STARTUP_FAILED',
  ],
  [
    'serve: audit.checkpoint.signingKeyFile',
    async (p) => [
      'serve',
      '--config',
      await serveConfig('checkpoint', (c) => (c.audit!.checkpoint = { signingKeyFile: p, interval: 1 })),
    ],
    'STARTUP_FAILED',
  ],
  [
    'serve: policy.bundle',
    async (p) => ['serve', '--config', await serveConfig('bundle', (c) => (c.policy!.bundle = p))],
    'STARTUP_FAILED',
  ],
  [
    'serve: policy.verificationKeys',
    async (p) => ['serve', '--config', await serveConfig('keys', (c) => (c.policy!.verificationKeys = [p]))],
    'STARTUP_FAILED',
  ],
  [
    'serve: kubernetes.kubeconfig',
    async (p) => ['serve', '--config', await serveConfig('kubeconfig', (c) => (c.kubernetes!.kubeconfig = p))],
    'STARTUP_FAILED',
  ],
];

/** Rows that also run with a FIFO no one writes to (the reported example; the async and the sync reader), and with a file over its bound. */
const ALSO: Record<string, ('fifo' | 'sparse')[]> = {
  'audit verify --public-key': ['fifo', 'sparse'],
  'serve: kubernetes.kubeconfig': ['fifo'],
  'policy eval --bundle': ['sparse'],
  'policy eval --values': ['sparse'],
  'serve --config': ['sparse'],
};
const REASONS = {
  zero: /is not a regular file or a pipe \(a device\)|is not a regular file \(a device\)/,
  fifo: /is a pipe that gave no end within 10000 ms|is not a regular file \(a FIFO\)/,
  sparse: /is larger than \d+ bytes/,
};

describe('a path that is not a regular file or a pipe ends the command with its code', { concurrency: 2 }, () => {
  for (const [name, args, code] of ROWS)
    for (const kind of ['zero', ...(ALSO[name] ?? [])] as ('zero' | 'fifo' | 'sparse')[])
      test(`${name} <${kind}> → exit 2, ${code}`, async () => {
        const path = { fifo, zero, sparse }[kind];
        const r = await cli(await args(path), kind === 'fifo' ? 25_000 : 15_000);
        assert.equal(r.hung, false, `hung on the ${kind}: ${r.stderr.slice(0, 300)}`);
        assert.equal(r.code, 2, r.stderr.slice(0, 500));
        assert.match(r.stderr, new RegExp(code));
        assert.match(r.stderr, REASONS[kind]);
        assert.ok(r.stderr.includes(path), 'the reason names the path');
      });

  test('a key given as a pipe still works: policy build --signing-key <(cat key.pem)', async () => {
    const out = join(work, 'piped.tgz');
    const script = `exec "$0" "$1" policy build --signing-key <(cat "$2") --out "$3"`;
    const child = spawn('bash', ['-c', script, process.execPath, CLI, files.signingKey!, out], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? '' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const { code } = await childEnd(child);
    assert.equal(code, 0, stderr);
  });
});

describe(
  'a policy directory holding what opa would read without end is refused before opa runs',
  { concurrency: 2 },
  () => {
    const kinds: [kind: string, plant: (file: string) => Promise<void> | void, reason: RegExp][] = [
      ['a FIFO', (file) => void execFileSync('mkfifo', [file]), /is not a regular file or a directory/],
      ['a symlink to /dev/zero', (file) => symlink('/dev/zero', file), /is not a regular file or a directory/],
      [
        'a sparse file of 100 MiB',
        async (file) => {
          await writeFile(file, '');
          await truncate(file, 100 * 1024 * 1024);
        },
        /is larger than \d+ bytes/,
      ],
    ];
    const commands: [name: string, args: (dir: string) => string[]][] = [
      ['policy build --policies', (dir) => ['policy', 'build', '--policies', dir, '--out', join(dir, '..', 'out.tgz')]],
      ['policy test --policies', (dir) => ['policy', 'test', '--policies', dir]],
      ['policy eval --policies', (dir) => ['policy', 'eval', STEP, '--policies', dir]],
    ];
    let n = 0;
    for (const [kind, plant, reason] of kinds)
      for (const [name, args] of commands)
        test(`${name} with ${kind} among the policies → exit 2, POLICY_BUILD_FAILED`, async () => {
          const dir = join(work, `policies-${++n}`, 'policies');
          execFileSync('mkdir', ['-p', join(dir, '..')]);
          execFileSync('cp', ['-r', join(REPO_ROOT, 'policies'), dir]);
          const planted = join(dir, 'kubiya', 'planted.rego');
          await plant(planted);
          const r = await cli(args(dir));
          assert.equal(r.hung, false, `hung: ${r.stderr.slice(0, 300)}`);
          assert.equal(r.code, 2, r.stderr.slice(0, 500));
          assert.match(r.stderr, /POLICY_BUILD_FAILED/);
          assert.match(r.stderr, reason);
          assert.ok(r.stderr.includes(planted), 'the reason names the path');
        });
  },
);

// Red team 16, finding 5: client-node reads the files a kubeconfig names (certificate-authority,
// client-certificate, client-key) with a blocking read: a FIFO there held `serve` beyond SIGTERM.
// They are checked when the kubeconfig is loaded: a bounded regular file each.
describe('a file a kubeconfig names that is not a regular file ends serve at start', { concurrency: 2 }, () => {
  for (const [field, key] of [
    ['certificate-authority', 'cluster'],
    ['client-key', 'user'],
  ] as const)
    for (const kind of ['fifo', 'zero'] as const)
      test(`${field} <${kind}> → exit 2, STARTUP_FAILED, at once`, async () => {
        const path = { fifo, zero }[kind];
        const kubeconfig = join(work, `kubeconfig-${field}-${kind}`);
        const cluster =
          key === 'cluster' ? `server: "https://127.0.0.1:1", ${field}: ${path}` : 'server: "https://127.0.0.1:1"';
        const user = key === 'user' ? `client-certificate: ${files.signingKey}, ${field}: ${path}` : 'token: t';
        await writeFile(
          kubeconfig,
          `apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {${cluster}}}]\nusers: [{name: u, user: {${user}}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n`,
        );
        const r = await cli([
          'serve',
          '--config',
          await serveConfig(`kc-${field}-${kind}`, (c) => (c.kubernetes!.kubeconfig = kubeconfig)),
        ]);
        assert.equal(r.hung, false, `hung: ${r.stderr.slice(0, 300)}`);
        assert.equal(r.code, 2, r.stderr.slice(0, 500));
        assert.match(r.stderr, /STARTUP_FAILED/);
        assert.match(
          r.stderr,
          kind === 'fifo' ? /is not a regular file \(a FIFO\)/ : /is not a regular file \(a device\)/,
        );
      });
});
