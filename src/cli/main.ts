import { Command, CommanderError } from 'commander';
import { auditCommands } from './audit.ts';
import { demoCommand } from './demo.ts';
import { devCommands } from './dev.ts';
import { CliError, EXIT, type Io } from './io.ts';
import { policyCommands } from './policy.ts';
import { serveCommand, type Env } from './serve.ts';

/**
 * kubiya-runner CLI. Exit codes: 0 ok, 1 the check failed (demo mismatch, broken chain),
 * 2 usage or environment error. Errors go to stderr as "<CODE>: <message>".
 */
export async function main(argv: readonly string[], io: Io, env: Env): Promise<number> {
  let code: number = EXIT.ok;
  const setCode = (c: number): void => {
    code = c;
  };
  const program = new Command('kubiya-runner')
    .description('Policy-driven secure execution gateway for Kubernetes')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) })
    .showHelpAfterError()
    .addHelpText(
      'after',
      '\nStart with:\n  $ kubiya-runner demo\n  $ kubiya-runner serve --config runner.yaml\n\nExit codes: 0 ok, 1 the check failed, 2 usage or environment error (see docs/cli.md).',
    );
  program.addCommand(serveCommand(io, setCode, env));
  program.addCommand(demoCommand(io, setCode));
  program.addCommand(devCommands(io));
  program.addCommand(policyCommands(io, setCode, env));
  program.addCommand(auditCommands(io, setCode));
  // addCommand() does not pass settings down: every command must throw instead of exiting.
  const configure = (c: Command): void => {
    c.exitOverride()
      .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) })
      .showHelpAfterError();
    c.commands.forEach(configure);
  };
  configure(program);
  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? EXIT.ok : EXIT.usage;
    if (e instanceof CliError) {
      io.err(`${e.code}: ${e.message}`);
      return e.exitCode;
    }
    io.err(`INTERNAL: ${e instanceof Error ? e.message : String(e)}`);
    return EXIT.usage;
  }
  return code;
}
