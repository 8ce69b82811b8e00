import type { ErrorCode } from './codes.ts';

/** An expected failure, as a value. `message` is safe to show: it never holds a secret or token. */
export interface RunnerError {
  readonly code: ErrorCode;
  readonly message: string;
  /** Structured, safe detail (schema issue paths, policy violations, ...). */
  readonly details?: unknown;
}

export type Result<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: RunnerError };

export const ok = <T>(value: T): Result<T> => ({ ok: true, value });

export const fail = (code: ErrorCode, message: string, details?: unknown): Result<never> => ({
  ok: false,
  error: details === undefined ? { code, message } : { code, message, details },
});

/** Turns an unknown thrown value into a message without leaking stacks. */
export function describeThrown(thrown: unknown): string {
  if (thrown instanceof Error) return thrown.message;
  if (typeof thrown === 'string') return thrown;
  return 'non-error value thrown';
}
