import { Command, CommanderError } from 'commander';
import { CliError, EXIT, type Io } from './io.ts';
import type { EntryFacts, Env } from './serve.ts';

/** What a command's module needs to build it: the CLI's io, the exit-code setter, the environment, the entry's facts. */
interface CommandContext {
  readonly io: Io;
  readonly setCode: (c: number) => void;
  readonly env: Env;
  readonly entry: EntryFacts;
}

/**
 * Each top-level command, built from its own module, imported only when needed: `serve` must not
 * pay for the module graphs of the demo, the dev tools, the policy tools and the audit reports
 * (start to ready, issue #20). The order is the order of `--help`.
 */
const COMMANDS: Readonly<Record<string, (c: CommandContext) => Promise<Command>>> = {
  serve: async ({ io, setCode, env, entry }) => (await import('./serve.ts')).serveCommand(io, setCode, env, entry),
  demo: async ({ io, setCode }) => (await import('./demo.ts')).demoCommand(io, setCode),
  dev: async ({ io }) => (await import('./dev.ts')).devCommands(io),
  policy: async ({ io, setCode, env }) => (await import('./policy.ts')).policyCommands(io, setCode, env),
  audit: async ({ io, setCode }) => (await import('./audit.ts')).auditCommands(io, setCode),
};

/**
 * The commands to build for `argv`: only the named one when the first argument names a command
 * (its own options, help and errors are all in its module), else every one (`--help`, no command,
 * an unknown command: the top-level help and commander's suggestions list them all).
 */
export function commandsFor(argv: readonly string[]): readonly string[] {
  const first = argv[0];
  return first !== undefined && Object.hasOwn(COMMANDS, first) ? [first] : Object.keys(COMMANDS);
}

/**
 * kubiya-runner CLI. Exit codes: 0 ok, 1 the check failed (demo mismatch, broken chain),
 * 2 usage or environment error. Errors go to stderr as "<CODE>: <message>".
 */
export async function main(argv: readonly string[], io: Io, env: Env, entry: EntryFacts = {}): Promise<number> {
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
  const context: CommandContext = { io, setCode, env, entry };
  const building: Promise<Command>[] = [];
  for (const name of commandsFor(argv)) {
    const build = COMMANDS[name];
    if (build !== undefined) building.push(build(context));
  }
  for (const command of await Promise.all(building)) program.addCommand(command);
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
    // atomic-file.ts OutputWriteFailed, known by its code: main imports no command's modules.
    if (e instanceof Error && (e as { code?: unknown }).code === 'OUTPUT_WRITE_FAILED') {
      io.err(`OUTPUT_WRITE_FAILED: ${e.message}`);
      return EXIT.usage;
    }
    io.err(`INTERNAL: ${e instanceof Error ? e.message : String(e)}`);
    return EXIT.usage;
  }
  return code;
}
