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

/** An API error's HTTP status, or the thrown value's message (never a body: it may echo a spec). */
export function apiCause(thrown: unknown): string {
  return thrown instanceof ApiException ? String(thrown.code) : describeThrown(thrown);
}
