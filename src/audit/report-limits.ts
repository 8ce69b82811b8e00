/**
 * The bounds of `audit report`'s memory (docs/adr/0007-bounded-audit-readers.md): whatever the
 * log's size, the page holds at most these; what they leave out is counted and stated on the page.
 */

/** Distinct values tallied per table (images, codes, policies, revisions, runners); more are counted, not named. */
export const MAX_KEYS = 10_000;
/** Bytes of markup kept for the listed denials and errors, and again for the records of the runs drawn. */
export const MAX_LISTED_BYTES = 32 * 1024 * 1024;
/** At most this many rows in the denials-and-errors table; the page says when there are more. */
export const MAX_REFUSALS = 20_000;
/** At most this many runs are drawn step by step (the page stays printable); the rest are counted. */
export const MAX_RUNS = 1000;
/** Run keys told apart beyond the runs drawn, to count them; past that the count is a lower bound. */
export const MAX_RUN_KEYS = 100_000;
