/**
 * One Kubernetes API request with a plain JSON body, through a KubeConfig's own authentication and
 * dispatcher (PooledKubeConfig: the pooled connection, the request timeouts and total deadline of
 * src/adapters/kubeconfig.ts), without client-node's generated API layer.
 *
 * Why (issue 20 §2, CPU per step): client-node 2.0.1 sends every call through undici's WHATWG
 * `fetch` (web streams for the request and the response body, a Headers object copied twice) and
 * its ObjectSerializer (a model-driven walk of every object on the way out and in). For a body
 * the runner built itself as plain JSON, and a response it reads a few fields of, both are pure
 * overhead: here the body is `JSON.stringify`ed once, sent with the dispatcher's `request`, and the
 * response parsed once with `JSON.parse`. Credentials are still applied per request by the
 * KubeConfig (a rotated token or an exec plugin's is picked up exactly as for client-node calls).
 */
import { ApiException, HttpMethod, RequestContext, type KubeConfig } from '@kubernetes/client-node';

type Dispatcher = NonNullable<ReturnType<RequestContext['getDispatcher']>>;

/** A request: method, path below the server (with its query, already encoded), and a JSON body. */
export interface KubeJsonRequest {
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** `/apis/<group>/<version>/namespaces/<ns>/<plural>[...]?<query>`; segments already URI-encoded. */
  readonly path: string;
  readonly body?: unknown;
  /** Content type of a PATCH body (merge patch by default). */
  readonly patchType?: 'application/merge-patch+json' | 'application/json-patch+json';
}

const METHODS: Readonly<Record<KubeJsonRequest['method'], HttpMethod>> = {
  GET: HttpMethod.GET,
  POST: HttpMethod.POST,
  PUT: HttpMethod.PUT,
  PATCH: HttpMethod.PATCH,
  DELETE: HttpMethod.DELETE,
};

/**
 * Sends `req` and resolves with the parsed JSON response (2xx). Any other status rejects with
 * client-node's ApiException (`code` = the HTTP status, `body` = the parsed Status object or the
 * text), so callers map errors exactly as they do for client-node calls; a network error or a
 * timeout rejects with undici's error, as client-node's calls do. The URI path segments must
 * already be encoded (see `segment`).
 */
export async function kubeJson<T = unknown>(kc: KubeConfig, req: KubeJsonRequest): Promise<T> {
  const server = kc.getCurrentCluster()?.server;
  if (server === undefined) throw new Error('no current cluster in the kubeconfig');
  // The path is appended as given (never resolved against the server's URL: no dot segment of a
  // name is ever normalised away); a server URL with a path prefix keeps it.
  const base = new URL(server);
  const path = `${base.pathname.replace(/\/+$/, '')}${req.path}`;
  const context = new RequestContext(`${base.origin}${path}`, METHODS[req.method]);
  await kc.applySecurityAuthentication(context);
  const dispatcher: Dispatcher | undefined = context.getDispatcher();
  if (dispatcher === undefined) throw new Error('the kubeconfig gave no dispatcher');
  const headers: Record<string, string> = { ...context.getHeaders(), accept: 'application/json' };
  let body: string | undefined;
  if (req.body !== undefined) {
    body = JSON.stringify(req.body);
    headers['content-type'] =
      req.method === 'PATCH' ? (req.patchType ?? 'application/merge-patch+json') : 'application/json';
  }
  const res = await dispatcher.request({
    origin: base.origin,
    path,
    method: req.method,
    headers,
    ...(body !== undefined ? { body } : {}),
  });
  const text = await res.body.text();
  if (res.statusCode < 200 || res.statusCode > 299) {
    throw new ApiException<unknown>(res.statusCode, `HTTP ${res.statusCode}`, parsedOrText(text), flat(res.headers));
  }
  return JSON.parse(text) as T;
}

/**
 * One path segment or query value (a name, a namespace, a label selector) URI-encoded; "." and ".."
 * with their dots encoded too, so that no segment is ever a dot segment.
 */
export const segment = (s: string): string =>
  s === '.' || s === '..' ? s.replaceAll('.', '%2E') : encodeURIComponent(s);

function parsedOrText(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function flat(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}
