/**
 * The port the evaluate stage talks to. The WASM adapter (src/adapters/opa-wasm.ts) implements it
 * for production; unit tests may implement it in memory to reach the fail-closed paths.
 */
export interface PolicyEngine {
  /** Bundle revision from its .manifest; goes into every decision and audit record. */
  readonly revision: string;
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
