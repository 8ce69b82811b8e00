import { Command, CommanderError } from 'commander';
import { auditCommands } from './audit.ts';
import { devCommands } from './dev.ts';
import { policyCommands } from './policy.ts';
import { serveCommand, type Env } from './serve.ts';
import { EXIT, type Io } from './io.ts';

/** kubiya-runner CLI. Exit codes: 0 ok, 1 the check failed (deny, broken chain, demo mismatch), 2 usage or environment error. */
export async function main(argv: readonly string[], io: Io, env: Env): Promise<number> {
  let code: number = EXIT.ok;
  const setCode = (c: number): void => {
    code = c;
  };
  const program = new Command('kubiya-runner')
    .description('Policy-driven secure execution gateway for Kubernetes')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) })
    .showHelpAfterError();
  program.addCommand(serveCommand(io, setCode, env));
  program.addCommand(devCommands(io, setCode));
  program.addCommand(policyCommands(io, setCode));
  program.addCommand(auditCommands(io, setCode));
  program
    .command('demo')
    .description('run the demo: local control plane, a runner, and signed steps that are allowed, denied, forged and failing')
    .option('--output <format>', 'text or json', 'text')
    .action(async (opts: { output: string }) => {
      const { runDemo } = await import('../dev/demo.ts');
      const json = opts.output === 'json';
      const result = await runDemo(json ? () => undefined : io.out);
      if (json) io.out(JSON.stringify(result, null, 2));
      else io.out(result.ok ? '\ndemo: every case ended as expected' : '\ndemo: some cases did NOT end as expected');
      setCode(result.ok ? EXIT.ok : EXIT.failed);
    });
  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? EXIT.ok : EXIT.usage;
    io.err(`kubiya-runner: ${e instanceof Error ? e.message : String(e)}`);
    return EXIT.usage;
  }
  return code;
}
