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
