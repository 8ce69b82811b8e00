/**
 * The longest audit record line, in bytes of UTF-8 without its newline: 8 MiB. The appender
 * refuses a longer record (AUDIT_RECORD_INVALID: that stage fails closed, src/audit/chain.ts), the
 * decision-log shipper reads records up to it (src/adapters/audit-ship.ts), and the readers of
 * `audit verify`, `query`, `report` and `policy replay` report a longer line as one the appender
 * never writes, holding at most this much of it in memory (src/adapters/audit-check-read.ts,
 * src/audit/line-split.ts). The runner's own records are far smaller: an assignment is at most
 * 1 MiB (`receive.maxTokenBytes`).
 */
export const MAX_RECORD_BYTES = 8 * 1024 * 1024;

/** The verifier's words for a line longer than MAX_RECORD_BYTES. */
export const TOO_LONG = `a line longer than ${MAX_RECORD_BYTES} bytes: the appender never writes one (its records are at most that long)`;

/**
 * The deepest nesting of objects and arrays in an audit record (the record itself is depth 1): 256.
 * The appender refuses a deeper record (AUDIT_RECORD_INVALID, src/audit/chain.ts) and the verifier
 * names a deeper line as one the appender never writes (AUDIT_TAMPERED at its seq,
 * src/audit/chain-check.ts), so every reader gets records that JSON.stringify (recursive: it threw
 * at about 5,000 levels) can print. The runner's own records nest about 10 deep (the workflow
 * schema has no free-form nesting); the appender's and the verifier's fast paths stop at 100 and
 * 64 and leave deeper records to the checks that apply this bound.
 */
export const MAX_RECORD_DEPTH = 256;

/** The verifier's words for a line nested deeper than MAX_RECORD_DEPTH. */
export const TOO_DEEP = `nested more than ${MAX_RECORD_DEPTH} deep: the appender never writes such a record`;
