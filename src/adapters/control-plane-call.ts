/**
 * One call of the control-plane client (docs/control-plane.md): the runner token as a bearer
 * token, a JSON body, a timeout, and an error status turned into a thrown error.
 */
import { discardBody } from './bounded-body.ts';

/**
 * Calls `path` (below the control plane's base URL) with `body` as JSON, if given, within
 * `timeoutMs` (default: the client's request timeout). Resolves with the response of a status
 * under 400, its body unread; throws `<operation>: control plane answered <status>` for 400 and
 * above (the body read up to its bound and dropped), and fetch's own error on a network failure
 * or the timeout.
 */
export type ControlPlaneCall = (
  operation: string,
  method: string,
  path: string,
  body?: unknown,
  timeoutMs?: number,
) => Promise<Response>;

/** What every call needs: the control plane's base URL, the runner token, and the default timeout (ms). */
export interface CallTarget {
  readonly url: string;
  readonly token: string;
  readonly requestTimeoutMs: number;
}

/** The calls to `target` (ControlPlaneCall). */
export function controlPlaneCall(target: CallTarget): ControlPlaneCall {
  return async (operation, method, path, body, timeoutMs = target.requestTimeoutMs) => {
    const res = await fetch(`${target.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${target.token}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (res.status >= 400) {
      await discardBody(res);
      throw new Error(`${operation}: control plane answered ${res.status}`);
    }
    return res;
  };
}
