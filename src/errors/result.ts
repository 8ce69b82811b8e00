import type { ErrorCode } from './codes.ts';

/** One problem of a refused document: where (a dotted path, or a JSON pointer) and why. */
export interface Issue {
  readonly path: string;
  readonly message: string;
}

/** The detail of a refused document: every problem found (bounded), each with its path. */
export interface IssuesDetail {
  readonly issues: readonly Issue[];
}

/**
 * The structured, safe detail each code may carry (the HTTP body's and the audit record's
 * `details`). A code not listed here carries none: `fail` refuses details for it at compile time.
 */
export interface DetailsByCode {
  readonly VALIDATE_SCHEMA: IssuesDetail;
  readonly VALIDATE_UNICODE: IssuesDetail;
  readonly VALIDATE_IMAGE_REFERENCE: IssuesDetail;
  readonly POLICY_MALFORMED_DECISION: IssuesDetail;
  readonly POLICY_SETTINGS_INVALID: IssuesDetail;
  readonly CONFIG_INVALID: IssuesDetail;
}

/** The detail a code carries: DetailsByCode's entry, or never for a code without detail. */
type DetailsOf<C extends ErrorCode> = C extends keyof DetailsByCode ? DetailsByCode[C] : never;

/** An expected failure, as a value. `message` is safe to show: it never holds a secret or token. */
export interface RunnerError {
  readonly code: ErrorCode;
  readonly message: string;
  /** Structured, safe detail, typed by code (DetailsByCode: `fail` gives a code only its own). */
  readonly details?: DetailsByCode[keyof DetailsByCode] | undefined;
}

export type Result<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: RunnerError };

export const ok = <T>(value: T): Result<T> => ({ ok: true, value });

/** A failed Result; `details` only for a code that carries them (DetailsByCode), with their type. */
export const fail = <C extends ErrorCode>(
  code: C,
  message: string,
  ...details: [DetailsOf<C>] extends [never] ? [] : [DetailsOf<C>?]
): Result<never> => ({
  ok: false,
  error: details[0] === undefined ? { code, message } : { code, message, details: details[0] },
});

/** Turns an unknown thrown value into a message without leaking stacks. */
export function describeThrown(thrown: unknown): string {
  if (thrown instanceof Error) return thrown.message;
  if (typeof thrown === 'string') return thrown;
  return 'non-error value thrown';
}
