/**
 * The port the evaluate stage talks to. The WASM adapter (src/adapters/opa-wasm.ts) implements it
 * for production; unit tests may implement it in memory to reach the fail-closed paths.
 */
export interface PolicyEngine {
  /** Bundle revision from its .manifest; goes into every decision and audit record. */
  readonly revision: string;
  /**
   * The key id (src/audit/keys.ts keyId: the first 16 hex digits of SHA-256 over the SPKI DER, as
   * the runner's startup log prints it for `verificationKeyIds`) of the
   * verification key that verified this bundle's signature; absent for a bundle loaded without
   * verification keys. Every evaluate and mutate record names it beside the revision
   * (`bundles.kubiya.keyid`), so a verification key swapped between two starts shows in the log.
   */
  readonly keyid?: string | undefined;
  /** Entrypoints the loaded module exports. */
  readonly entrypoints: readonly string[];
  /**
   * The `kubiya.settings` this engine decides with (the bundle's data, or the data file that
   * replaced it), when the adapter knows them. Audit masking adds their credential patterns to its
   * built-in floor (src/audit/mask.ts maskPatternsOf), so the log masks what the policy denies.
   */
  readonly settings?: unknown;
  /** Raw OPA result set for the entrypoint; may throw anything. */
  evaluate(input: unknown, entrypoint: string): unknown;
}

export const DECISION_ENTRYPOINT = 'kubiya/main/decision';

/**
 * The values the policy computes from its settings alone (policies/kubiya/main/derived.rego),
 * evaluated once per loaded data by the WASM adapter and put at data.kubiya.derived (issue 20 §2).
 * Optional: a bundle without it computes them on every evaluation, and decides the same.
 */
export const DERIVED_ENTRYPOINT = 'kubiya/main/derived';
