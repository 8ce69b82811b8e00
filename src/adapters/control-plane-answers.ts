/**
 * The control plane's answers the runner reads (docs/control-plane.md), each read with a bound on
 * its decoded bytes before it is parsed (src/adapters/bounded-body.ts): a control plane, or a proxy
 * in front of it, cannot make the runner hold more than the protocol allows (red team 17,
 * finding 1: a 0.6 MB gzip poll answer took the client to 2.0 GB RSS).
 */
import { jsonAtMost } from './bounded-body.ts';

/** The most assignments, and the most cancellations, one poll answer carries (control-plane.openapi.yaml). */
const POLL_MAX_ITEMS = 10;

/** Room in a poll answer for what is not a token: `{"assignments":[…],"cancellations":[…]}`, quotes, commas, white space, in bytes. */
const POLL_ENVELOPE_BYTES = 64 * 1024;

/**
 * The largest events answer read, in decoded bytes: 100 ids of up to 1 KiB each (a `decision_id`,
 * or `log:<run>:<step>:<chunk>`) and the envelope, rounded up to 256 KiB.
 */
export const EVENTS_ANSWER_MAX_BYTES = 256 * 1024;

/**
 * The largest poll answer read, in decoded bytes: POLL_MAX_ITEMS assignments and as many
 * cancellations of at most `maxTokenBytes` each (`controlPlane.maxTokenBytes`; a JWS needs no JSON
 * escaping, so the bytes of a token are its characters) plus POLL_ENVELOPE_BYTES. With the
 * default 64 KiB tokens: 1,376,256 bytes; with the largest (1 MiB): 21,037,056.
 */
export function pollAnswerMaxBytes(maxTokenBytes: number): number {
  return 2 * POLL_MAX_ITEMS * maxTokenBytes + POLL_ENVELOPE_BYTES;
}

/** What a poll answer hands out, in the order they are handled: cancellations first. */
export interface PollAnswer {
  readonly assignments: readonly string[];
  readonly cancellations: readonly string[];
}

/**
 * A `200` poll answer: at most pollAnswerMaxBytes(maxTokenBytes) decoded bytes, then parsed. A
 * token in it longer than `maxTokenBytes` is still handed to intake, which refuses it unparsed
 * (`RECEIVE_TOO_LARGE`), as a pushed one. Throws AnswerTooLarge (NETWORK_ANSWER_TOO_LARGE) over
 * the bound, `poll: malformed answer` for what is not `{assignments?: string[], cancellations?:
 * string[]}` or holds more than POLL_MAX_ITEMS of either, or what the read rejects with (timeout,
 * network).
 */
export async function readPollAnswer(res: Response, maxTokenBytes: number): Promise<PollAnswer> {
  const doc = await jsonAtMost(res, pollAnswerMaxBytes(maxTokenBytes), 'the poll answer');
  const list = (key: string): unknown =>
    typeof doc === 'object' && doc !== null && key in doc ? (doc as Record<string, unknown>)[key] : [];
  const assignments = list('assignments');
  const cancellations = list('cancellations');
  if (!isStrings(assignments) || !isStrings(cancellations)) throw new Error('poll: malformed answer');
  // More than the protocol allows is refused whole (the control plane offers them again), not cut.
  if (assignments.length > POLL_MAX_ITEMS || cancellations.length > POLL_MAX_ITEMS)
    throw new Error(
      `poll: malformed answer: ${assignments.length} assignments and ${cancellations.length} cancellations, at most ${POLL_MAX_ITEMS} of each allowed`,
    );
  return { assignments, cancellations };
}

/**
 * A `200` events answer: at most EVENTS_ANSWER_MAX_BYTES decoded bytes, then the acknowledged ids.
 * Throws AnswerTooLarge over the bound, `events: malformed answer` without an `acked` array, or
 * what the read rejects with.
 */
export async function readEventsAnswer(res: Response): Promise<ReadonlySet<string>> {
  const doc = await jsonAtMost(res, EVENTS_ANSWER_MAX_BYTES, 'the events answer');
  const acked = typeof doc === 'object' && doc !== null ? (doc as { acked?: unknown }).acked : undefined;
  if (!Array.isArray(acked)) throw new Error('events: malformed answer');
  return new Set(acked as string[]);
}

function isStrings(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((t) => typeof t === 'string');
}
