/**
 * The closed catalogue of error codes. Every code a user can see (HTTP body, CLI, audit record)
 * is here, with the HTTP status it maps to and the stage that produces it. docs/errors.md lists
 * the same codes; test/unit/errors.test.ts keeps the two in sync.
 *
 * "Could not verify" (VERIFY_*, 401) and "verified but not permitted" (POLICY_DENIED, 403) are
 * deliberately different codes and statuses.
 */
export const ERROR_CATALOGUE = {
  RECEIVE_TOO_LARGE: { status: 413, stage: 'receive' },
  RECEIVE_UNSUPPORTED_MEDIA_TYPE: { status: 415, stage: 'receive' },
  RECEIVE_MALFORMED: { status: 400, stage: 'receive' },

  VERIFY_MALFORMED: { status: 401, stage: 'verify' },
  VERIFY_ALGORITHM_NOT_ALLOWED: { status: 401, stage: 'verify' },
  VERIFY_KEY_NOT_FOUND: { status: 401, stage: 'verify' },
  VERIFY_SIGNATURE_INVALID: { status: 401, stage: 'verify' },
  VERIFY_EXPIRED: { status: 401, stage: 'verify' },
  VERIFY_NOT_YET_VALID: { status: 401, stage: 'verify' },
  VERIFY_TOO_OLD: { status: 401, stage: 'verify' },
  VERIFY_CLAIM_INVALID: { status: 401, stage: 'verify' },
  VERIFY_TYPE_INVALID: { status: 401, stage: 'verify' },
  VERIFY_RUN_MISMATCH: { status: 401, stage: 'verify' },
  VERIFY_HEADER_UNSUPPORTED: { status: 401, stage: 'verify' },
  VERIFY_KEY_NOT_TRUSTED: { status: 401, stage: 'verify' },
  TRUSTED_KEYS_UNAVAILABLE: { status: 503, stage: 'verify' },

  VALIDATE_SCHEMA: { status: 422, stage: 'validate' },
  VALIDATE_UNICODE: { status: 422, stage: 'validate' },
  VALIDATE_IMAGE_REFERENCE: { status: 422, stage: 'validate' },

  ASSIGNMENT_REPLAYED: { status: 409, stage: 'claim' },
  ASSIGNMENT_RUN_ID_REUSED: { status: 409, stage: 'claim' },

  POLICY_DENIED: { status: 403, stage: 'evaluate' },
  POLICY_UNDEFINED: { status: 500, stage: 'evaluate' },
  POLICY_EVAL_ERROR: { status: 500, stage: 'evaluate' },
  POLICY_MALFORMED_DECISION: { status: 500, stage: 'evaluate' },
  POLICY_ENTRYPOINT_UNKNOWN: { status: 500, stage: 'evaluate' },
  POLICY_NOT_LOADED: { status: 503, stage: 'evaluate' },
  POLICY_RELOAD_REJECTED: { status: 500, stage: 'evaluate' },
  POLICY_BUNDLE_UNSIGNED: { status: 500, stage: 'evaluate' },
  POLICY_BUNDLE_SIGNATURE_INVALID: { status: 500, stage: 'evaluate' },
  POLICY_BUNDLE_DOWNLOAD_FAILED: { status: 502, stage: 'evaluate' },

  AUDIT_UNAVAILABLE: { status: 503, stage: 'audit' },
  AUDIT_CHECKPOINTS_OFF: { status: 500, stage: 'audit' },
  AUDIT_SHIP_FAILED: { status: 502, stage: 'audit' },
  AUDIT_RECORD_INVALID: { status: 422, stage: 'audit' },
  AUDIT_LOCKED: { status: 503, stage: 'audit' },
  AUDIT_RESUME_REFUSED: { status: 503, stage: 'audit' },
  AUDIT_RECORDS_ADOPTED: { status: 500, stage: 'audit' },
  AUDIT_REFUSALS_AGGREGATED: { status: 429, stage: 'audit' },
  JWKS_FETCH_FAILED: { status: 502, stage: 'verify' },
  CONTROL_PLANE_UNAVAILABLE: { status: 502, stage: 'intake' },
  CONTROL_PLANE_EVENTS_FULL: { status: 503, stage: 'intake' },
  NETWORK_ANSWER_TOO_LARGE: { status: 502, stage: 'intake' },

  CREATE_REJECTED: { status: 422, stage: 'create' },
  CREATE_FAILED: { status: 502, stage: 'create' },
  CREATE_EXISTS: { status: 409, stage: 'create' },
  EGRESS_HOST_UNPINNED: { status: 422, stage: 'create' },
  EGRESS_BASELINE_UNCONFIRMED: { status: 503, stage: 'create' },
  STEP_OBJECT_CONFLICT: { status: 409, stage: 'create' },
  STEP_POD_ALTERED: { status: 409, stage: 'create' },
  POD_SECURITY_NOT_ENFORCED: { status: 503, stage: 'create' },
  POD_SECURITY_UNKNOWN: { status: 503, stage: 'create' },

  RUN_UPDATE_FAILED: { status: 502, stage: 'reconcile' },
  LIST_FAILED: { status: 502, stage: 'reconcile' },
  DELETE_FAILED: { status: 502, stage: 'reconcile' },

  WATCH_FAILED: { status: 502, stage: 'watch' },
  LOG_READ_FAILED: { status: 502, stage: 'watch' },
  KUBE_API_TIMEOUT: { status: 504, stage: 'watch' },
  KUBE_API_WATCH_STALLED: { status: 504, stage: 'watch' },
  KUBE_API_WATCH_FAILED: { status: 502, stage: 'watch' },
  STEP_FAILED: { status: 200, stage: 'watch' },
  STEP_DEADLINE_EXCEEDED: { status: 200, stage: 'watch' },
  STEP_START_FAILED: { status: 200, stage: 'watch' },
  STEP_POD_LOST: { status: 200, stage: 'watch' },
  STEP_CANCELLED: { status: 200, stage: 'watch' },
  STEP_SKIPPED: { status: 200, stage: 'watch' },
  // issue 19 §5: retries
  STEP_ATTEMPT_FAILED: { status: 200, stage: 'watch' },
  // issue 19 §6: when
  STEP_CONDITION_FALSE: { status: 200, stage: 'watch' },
  STEP_CONDITION_ERROR: { status: 200, stage: 'watch' },
  // issue 19 §4: outputs
  STEP_OUTPUT_UNRESOLVED: { status: 200, stage: 'watch' },
  STEP_OUTPUT_TOO_LARGE: { status: 200, stage: 'watch' },
  STEP_OUTPUT_INVALID: { status: 200, stage: 'watch' },
  STEP_OUTPUT_UNSAFE_TEXT: { status: 200, stage: 'watch' },
  RUN_NOT_FOUND: { status: 404, stage: 'http' },

  HTTP_BAD_REQUEST: { status: 400, stage: 'http' },
  HTTP_NOT_FOUND: { status: 404, stage: 'http' },
  HTTP_METHOD_NOT_ALLOWED: { status: 405, stage: 'http' },
  HTTP_TIMEOUT: { status: 408, stage: 'http' },
  HTTP_HEADERS_TOO_LARGE: { status: 431, stage: 'http' },
  CAPACITY_EXCEEDED: { status: 429, stage: 'http' },
  SHUTTING_DOWN: { status: 503, stage: 'http' },
  NOT_READY: { status: 503, stage: 'http' },

  CONFIG_INVALID: { status: 500, stage: 'config' },
  STARTUP_FAILED: { status: 500, stage: 'config' },
  COMPILE_CACHE_OFF: { status: 500, stage: 'config' },
  POD_SECURITY_CHECK_OFF: { status: 500, stage: 'config' },
  POLICY_BUILD_FAILED: { status: 500, stage: 'cli' },
  POLICY_SETTINGS_INVALID: { status: 500, stage: 'config' },
  POLICY_SETTINGS_UNSIGNED: { status: 500, stage: 'config' },
  POLICY_KEY_PRIVATE: { status: 500, stage: 'config' },
  AUDIT_READ_FAILED: { status: 500, stage: 'cli' },
  AUDIT_TAMPERED: { status: 500, stage: 'cli' },
  AUDIT_KEY_MISMATCH: { status: 500, stage: 'cli' },
  AUDIT_UNCHECKPOINTED: { status: 500, stage: 'cli' },
  AUDIT_TAIL_UNCOVERED: { status: 500, stage: 'cli' },
  AUDIT_STRAY_SEGMENT: { status: 500, stage: 'cli' },
  AUDIT_ROLLED_BACK: { status: 500, stage: 'cli' },
  AUDIT_CHAIN_DUPLICATE: { status: 500, stage: 'cli' },
  AUDIT_QUERY_INVALID: { status: 400, stage: 'cli' },
  OUTPUT_WRITE_FAILED: { status: 500, stage: 'cli' },
  TOOLS_MISSING: { status: 500, stage: 'dev' },
  CLUSTER_START_FAILED: { status: 500, stage: 'dev' },
  CLUSTER_STATE_INVALID: { status: 500, stage: 'dev' },
  CLUSTER_DIR_NOT_OURS: { status: 500, stage: 'dev' },
  CLUSTER_BUSY: { status: 500, stage: 'dev' },
  CLUSTER_STOP_FAILED: { status: 500, stage: 'dev' },
  DEV_KEY_INVALID: { status: 500, stage: 'dev' },
  REAL_NODE_UNAVAILABLE: { status: 500, stage: 'dev' },
  REAL_NODE_LOCKED: { status: 500, stage: 'dev' },
  INTERNAL: { status: 500, stage: 'internal' },
} as const satisfies Record<string, { status: number; stage: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

export const ERROR_CODES = Object.keys(ERROR_CATALOGUE) as ErrorCode[];

export function httpStatusOf(code: ErrorCode): number {
  return ERROR_CATALOGUE[code].status;
}
