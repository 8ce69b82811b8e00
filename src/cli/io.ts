export interface Io {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
  /** Colour only on a TTY, and never when NO_COLOR is set (decided by the entry point). */
  readonly color: boolean;
}

/** Exit codes of every command (docs/cli.md). */
export const EXIT = Object.freeze({ ok: 0, failed: 1, usage: 2 });

const CODES = { red: 31, green: 32, yellow: 33, dim: 2, bold: 1 } as const;
export type Colour = keyof typeof CODES;

export function painter(io: Io): (colour: Colour, text: string) => string {
  return (colour, text) => (io.color ? `\u001b[${CODES[colour]}m${text}\u001b[0m` : text);
}

/** An expected CLI failure: printed as "<CODE>: <message>" on stderr, exit code as given. */
export class CliError extends Error {
  readonly code: string;
  readonly exitCode: number;
  constructor(code: string, message: string, exitCode: number = EXIT.usage) {
    super(message);
    this.code = code;
    this.exitCode = exitCode;
  }
}

/** The signals that stop a long-running command. */
const STOP_SIGNALS = ['SIGINT', 'SIGTERM'] as const;

/**
 * Makes `onSignal` the only handler of SIGINT and SIGTERM (called once, with the signal's name; a
 * second stop signal ends the process), in place of the entry point's "exit on signal". Ours are added before the others are removed: the
 * count never drops to zero, so a signal Node has already caught but not yet dispatched reaches
 * `onSignal` (removing every listener first stops Node's signal watcher, and such a signal was
 * lost: the runner kept running after SIGTERM).
 */
export function takeOverStopSignals(onSignal: (signal: 'SIGINT' | 'SIGTERM') => void): void {
  const ours = new Map<string, () => void>();
  for (const signal of STOP_SIGNALS) {
    const handler = (): void => {
      // Once: a second stop signal gets Node's default (the process ends at once), as before.
      for (const [s, h] of ours) process.removeListener(s, h);
      onSignal(signal);
    };
    ours.set(signal, handler);
    process.on(signal, handler);
    for (const other of process.listeners(signal)) if (other !== handler) process.removeListener(signal, other);
  }
}

/**
 * Resolves on the first SIGINT or SIGTERM, for the long-running dev commands; earlier listeners of
 * both signals are replaced (takeOverStopSignals), so the signal stops the command instead of the process.
 */
export function untilStopSignal(): Promise<void> {
  return new Promise<void>((resolve) => takeOverStopSignals(() => resolve()));
}
