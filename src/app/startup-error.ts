/**
 * `serve`'s start-up errors: the codes it exits with and the one error type start-up throws
 * (server.ts), with the mapping from whatever a part threw.
 */

/**
 * The codes `serve` exits with at start: STARTUP_FAILED, or a more precise one a part threw
 * (AUDIT_LOCKED: another writer holds the audit directory; AUDIT_RESUME_REFUSED: its last
 * checkpoint or the records after it cannot be vouched for; POLICY_SETTINGS_UNSIGNED: a settings
 * overlay beside verification keys; POLICY_KEY_PRIVATE: a private key among the verification keys).
 */
export type StartupCode =
  'STARTUP_FAILED' | 'AUDIT_LOCKED' | 'AUDIT_RESUME_REFUSED' | 'POLICY_SETTINGS_UNSIGNED' | 'POLICY_KEY_PRIVATE';
const PRECISE_STARTUP_CODES: ReadonlySet<unknown> = new Set([
  'AUDIT_LOCKED',
  'AUDIT_RESUME_REFUSED',
  'POLICY_SETTINGS_UNSIGNED',
  'POLICY_KEY_PRIVATE',
]);

/**
 * A fatal start-up error with its code: `serve` prints `<code>: <message>` and exits 2. Thrown
 * only before anything has started (no Lease, no reconcile, no audit record, no control-plane
 * call); what was opened is closed again first.
 */
export class StartupError extends Error {
  override readonly name = 'StartupError';
  readonly code: StartupCode;
  constructor(code: StartupCode, message: string) {
    super(message);
    this.code = code;
  }
}

/**
 * `e` as the StartupError `serve` reports: itself when it is one; else an error carrying its
 * precise code (PRECISE_STARTUP_CODES) when its `code` is one, STARTUP_FAILED otherwise, with its
 * message (a message that already starts with `<code>: ` says the code once).
 */
export function startupError(e: unknown): StartupError {
  if (e instanceof StartupError) return e;
  const given = (e as { code?: unknown } | null)?.code;
  const code: StartupCode = PRECISE_STARTUP_CODES.has(given) ? (given as StartupCode) : 'STARTUP_FAILED';
  const message = e instanceof Error ? e.message : String(e);
  // serve prints "<code>: <message>": a message that already starts with its code says it once.
  return new StartupError(code, message.startsWith(`${code}: `) ? message.slice(code.length + 2) : message);
}
