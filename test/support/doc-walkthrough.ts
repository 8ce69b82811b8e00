/**
 * What the tests that run a doc's walkthrough as written share (test/http/audit-docs.test.ts for
 * docs/audit.md, test/policies/docs.test.ts for docs/policies.md): the doc's fenced blocks and
 * their commands, a command's outcome through bash, and an audit log seeded with real decisions
 * of the pipeline, as `npm run demo` leaves one.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createLocalJWKSet } from 'jose';
import type { FileAuditLog } from '../../src/adapters/audit-file.ts';
import type { loadEngine } from '../../src/adapters/opa-wasm.ts';
import { runAssignment } from '../../src/app/assignment.ts';
import { jwks, signAssignment, type SigningKey } from '../../src/dev/sign.ts';
import { Reconciler } from '../../src/reconcile/reconciler.ts';
import { testPipelineConfig } from './config.ts';
import { memoryCluster, MemoryRuns, MemoryTrustedKeys } from './memory.ts';

const run = promisify(execFile);

/** Fenced blocks of a Markdown file, in order, with their info string. */
export function fencedBlocks(md: string): { info: string; body: string }[] {
  return [...md.matchAll(/^```([^\n]*)\n([\s\S]*?)^```$/gm)].map((m) => ({
    info: (m[1] ?? '').trim(),
    body: m[2] ?? '',
  }));
}

/** The commands of a shell block: its lines, without blank ones and `#` comments. */
export function blockCommands(body: string): string[] {
  return body.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'));
}

/** A command run with `bash -c` (16 MiB of output at most): its exit code and output, whether it failed or not. */
export function runShell(
  command: string,
  options: { readonly cwd: string; readonly env: NodeJS.ProcessEnv; readonly timeout?: number },
): Promise<{ code: number; stdout: string; stderr: string }> {
  return run('bash', ['-c', command], { ...options, maxBuffer: 16 * 1024 * 1024 }).then(
    (o) => ({ code: 0, stdout: o.stdout, stderr: o.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
}

/** One assignment to record: a workflow, and the key that signs it (default: the trusted key). */
interface Assignment {
  readonly workflow: { id: string } & Record<string, unknown>;
  readonly signer?: SigningKey;
}

/**
 * Real pipeline decisions into `audit`, then closes it: each workflow signed for `runner` by the
 * issuer https://cp, admitted and reconciled in memory (pods succeed) with the compiled policy
 * `engine`; only `trusted` is in the JWKS, so another signer's assignment is refused at verify.
 */
export async function recordDecisions(
  audit: FileAuditLog,
  engine: Awaited<ReturnType<typeof loadEngine>>,
  o: { readonly runner: string; readonly trusted: SigningKey; readonly workers: number },
  assignments: readonly Assignment[],
): Promise<void> {
  const deps = {
    config: testPipelineConfig({ runner: { name: o.runner }, controlPlane: { issuer: 'https://cp' } }),
    keys: createLocalJWKSet(jwks([o.trusted])),
    policy: () => engine,
    audit,
    ...memoryCluster(),
    runs: new MemoryRuns(),
    trust: new MemoryTrustedKeys(),
    now: () => new Date(),
    newId: () => crypto.randomUUID(),
  };
  const reconciler = new Reconciler(deps, { isLeader: () => true, workers: o.workers, resyncMs: 60_000 });
  reconciler.start();
  for (const { workflow, signer } of assignments) {
    const body = await signAssignment(signer ?? o.trusted, { issuer: 'https://cp', audience: o.runner, workflow });
    await runAssignment({ body, contentType: 'application/jwt' }, deps, reconciler);
  }
  await reconciler.stop();
  await audit.close();
}
