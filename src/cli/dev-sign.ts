import { Command } from 'commander';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { REPO_ROOT } from '../adapters/tools.ts';
import { DevKeyError, loadOrCreateKey, type LoadedKey } from '../dev/key-file.ts';
import { signAssignment } from '../dev/sign.ts';
import { readWorkflowArg } from './dev-workflow.ts';
import { CliError, type Io } from './io.ts';
import { examples } from './options.ts';

interface SignOptions {
  readonly key: string;
  readonly issuer: string;
  readonly audience: string;
  readonly ttl: number;
  readonly jti?: string;
}

/** `dev sign <workflow>`: one signed assignment (compact JWS) on stdout, the key created when missing. */
export function signCommand(io: Io): Command {
  return new Command('sign')
    .argument('<workflow>')
    .description('mint one signed assignment (compact JWS) from a workflow YAML file, as the control plane would')
    .option(
      '--key <file>',
      'signing key (private JWK); created with <file>.jwks.json beside it when missing',
      join(REPO_ROOT, '.kubiya', 'control-plane', 'signing-key.json'),
    )
    .option('--issuer <iss>', 'issuer (controlPlane.issuer of the runner)', 'https://control-plane.kubiya.local')
    .option('--audience <runner>', 'the runner it is for (runner.name)', 'production-runner')
    .option('--ttl <seconds>', 'lifetime', (v) => Number(v), 300)
    .option('--jti <id>', 'assignment id (default: random)')
    .addHelpText(
      'after',
      examples(
        'kubiya-runner dev sign examples/python-analyze.yaml --audience production-runner > token.jwt',
        'curl -X POST -H "content-type: application/jwt" --data-binary "$(cat token.jwt)" http://localhost:8080/v1/assignments   # $(...) drops the final newline: tokens are sent exactly as signed',
      ),
    )
    .action((workflowFile: string, opts: SignOptions) => sign(io, workflowFile, opts));
}

async function sign(io: Io, workflowFile: string, opts: SignOptions): Promise<void> {
  const workflow = await readWorkflowArg(workflowFile);
  await mkdir(dirname(opts.key), { recursive: true });
  const { key, created, jwksRewritten, jwksFile } = await keyOrCliError(opts.key);
  if (created) io.err(`created signing key ${opts.key}; runners trust ${jwksFile}`);
  if (jwksRewritten)
    io.err(`${jwksFile} was missing or did not hold the key ${key.kid}: written again from ${opts.key}`);
  io.out(
    await signAssignment(key, {
      issuer: opts.issuer,
      audience: opts.audience,
      workflow,
      ttlSeconds: opts.ttl,
      ...(opts.jti !== undefined ? { jti: opts.jti } : {}),
    }),
  );
}

/** loadOrCreateKey, a key file that is not ours reported as DEV_KEY_INVALID (exit 1). */
async function keyOrCliError(file: string): Promise<LoadedKey> {
  try {
    return await loadOrCreateKey(file);
  } catch (e) {
    throw e instanceof DevKeyError ? new CliError(e.code, e.message, 1) : e;
  }
}
