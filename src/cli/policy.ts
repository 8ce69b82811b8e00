import { Command } from 'commander';
import { join, resolve } from 'node:path';
import { buildBundle } from '../adapters/opa-cli.ts';
import { REPO_ROOT, resolveTools } from '../adapters/tools.ts';
import { EXIT, type Io } from './io.ts';

export function policyCommands(io: Io, setCode: (c: number) => void): Command {
  const policy = new Command('policy').description('build and test the Rego policies');
  policy
    .command('build')
    .description('compile the policies to a WASM bundle (opa build -t wasm) with a content-hash revision')
    .option('--policies <dir>', 'policy directory', join(REPO_ROOT, 'policies'))
    .option('--out <file>', 'bundle file', 'bundle.tar.gz')
    .option('--output <format>', 'text or json', 'text')
    .action(async (opts: { policies: string; out: string; output: string }) => {
      const tools = resolveTools(['opa']);
      if (!tools.ok) {
        io.err(`${tools.error.code}: ${tools.error.message}`);
        setCode(EXIT.usage);
        return;
      }
      const built = await buildBundle(tools.value.opa, resolve(opts.policies), resolve(opts.out));
      io.out(opts.output === 'json' ? JSON.stringify(built) : `built ${built.file} (revision ${built.revision})`);
    });
  return policy;
}
