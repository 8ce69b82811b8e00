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

/**
 * Resolves on the first SIGINT or SIGTERM, for the long-running dev commands; earlier listeners of
 * both signals are removed first, so the signal stops the command instead of the process.
 */
export function untilStopSignal(): Promise<void> {
  process.removeAllListeners('SIGINT');
  process.removeAllListeners('SIGTERM');
  return new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}
