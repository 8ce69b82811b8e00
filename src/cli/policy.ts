import { Command } from 'commander';
import { join, resolve } from 'node:path';
import { buildBundle } from '../adapters/opa-cli.ts';
import { REPO_ROOT, resolveTools } from '../adapters/tools.ts';
import { CliError, type Io } from './io.ts';
import { examples, outputOption } from './options.ts';

export function policyCommands(io: Io): Command {
  const policy = new Command('policy').description('build and test the Rego policies');
  policy
    .command('build')
    .description('compile the policies to a WASM bundle (opa build -t wasm) with a content-hash revision')
    .option('--policies <dir>', 'policy directory', join(REPO_ROOT, 'policies'))
    .option('--out <file>', 'bundle file', 'bundle.tar.gz')
    .addOption(outputOption())
    .addHelpText('after', examples('kubiya-runner policy build --out /tmp/bundle.tar.gz', 'kubiya-runner policy build --policies ./my-policies --output json'))
    .action(async (opts: { policies: string; out: string; output: string }) => {
      const tools = resolveTools(['opa']);
      if (!tools.ok) throw new CliError(tools.error.code, tools.error.message);
      const built = await buildBundle(tools.value.opa, resolve(opts.policies), resolve(opts.out)).catch((e: unknown) => {
        throw new CliError('POLICY_BUILD_FAILED', e instanceof Error ? e.message : String(e));
      });
      io.out(opts.output === 'json' ? JSON.stringify(built) : `built ${built.file} (revision ${built.revision})`);
    });
  return policy;
}
