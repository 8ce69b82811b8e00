import { ApiException } from '@kubernetes/client-node';
import { describeThrown, fail, type Result } from '../errors/result.ts';

/** An API server's answer to a create, as a code: 409 CREATE_EXISTS, 4xx CREATE_REJECTED, else CREATE_FAILED. */
export function refused(thrown: unknown, what: string): Result<never> {
  if (thrown instanceof ApiException) {
    const message = apiMessage(thrown);
    if (thrown.code === 409) return fail('CREATE_EXISTS', `${what} already exists: ${message}`);
    if (thrown.code === 403 || thrown.code === 422 || thrown.code === 400 || thrown.code === 404)
      return fail('CREATE_REJECTED', `API server rejected ${what} (${thrown.code}): ${message}`);
    return fail('CREATE_FAILED', `API server error on ${what} (${thrown.code}): ${message}`);
  }
  return fail('CREATE_FAILED', `API server unreachable: ${describeThrown(thrown)}`);
}

function apiMessage(e: ApiException<unknown>): string {
  const body: unknown = typeof e.body === 'string' ? safeJson(e.body) : e.body;
  if (typeof body === 'object' && body !== null && 'message' in body && typeof body.message === 'string')
    return body.message.slice(0, 1000);
  return 'no message';
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * Why an API request failed, without anything the request carried: for an API server's answer its
 * HTTP status, the Status object's `reason` and the `reason` of each of its `details.causes` (at
 * most 5) with the cause's `field` when the caller names it as one of the request's own fields,
 * e.g. `422 Invalid (spec.token: FieldValueTooLong)`. Never the Status `message` or a cause's
 * `message`, which may echo a value of the spec (a WorkflowRun's token); a field not in `fields` is
 * left out (a webhook may write anything there, a token included), and a reason is kept only when
 * it is letters (StatusReason and CauseType are CamelCase words,
 * https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/status/). For a thrown
 * value that is not an API answer (unreachable, timeout): its message.
 */
export function apiCause(thrown: unknown, fields: ReadonlySet<string> = NO_FIELDS): string {
  if (!(thrown instanceof ApiException)) return describeThrown(thrown);
  const body: unknown = typeof thrown.body === 'string' ? safeJson(thrown.body) : thrown.body;
  const status = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
  const details = typeof status.details === 'object' && status.details !== null ? status.details : {};
  const rawCauses = (details as { causes?: unknown }).causes;
  const causes = (Array.isArray(rawCauses) ? rawCauses : [])
    .slice(0, 5)
    .map((c: unknown) => {
      const cause = typeof c === 'object' && c !== null ? (c as Record<string, unknown>) : {};
      const field = typeof cause.field === 'string' && fields.has(cause.field) ? cause.field : undefined;
      return [field, word(cause.reason)].filter((x) => x !== undefined).join(': ');
    })
    .filter((c) => c !== '');
  return [String(thrown.code), word(status.reason), causes.length > 0 ? `(${causes.join(', ')})` : undefined]
    .filter((x) => x !== undefined)
    .join(' ');
}

const NO_FIELDS: ReadonlySet<string> = new Set();

/** A StatusReason or CauseType: a CamelCase word of at most 64 letters; otherwise undefined. */
function word(value: unknown): string | undefined {
  return typeof value === 'string' && /^[A-Za-z]{1,64}$/.test(value) ? value : undefined;
}
