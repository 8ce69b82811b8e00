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
import * as k8s from '@kubernetes/client-node';
import { ApiException, HttpMethod, RequestContext, type KubeConfig } from '@kubernetes/client-node';
import clientNode from '@kubernetes/client-node/package.json' with { type: 'json' };

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

/**
 * The User-Agent client-node's generated API sends (its `getUserAgent`, config.js), sent here too:
 * the API server names the field manager of every write after it (`metadata.managedFields[].manager`,
 * "unknown" without one) and records it in its audit log, so the runner's plain JSON writes (pod,
 * WorkflowRun, status) are attributed as its typed calls (a cancel, the lease) are (h-steps-7).
 */
const USER_AGENT = `kubernetes-client-javascript/${clientNode.version}`;

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
  const headers: Record<string, string> = {
    ...context.getHeaders(),
    accept: 'application/json',
    'user-agent': USER_AGENT,
  };
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
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new KubeAnswerNotJson(res.statusCode, Buffer.byteLength(text));
  }
}

/**
 * A 2xx answer whose body is not JSON (a proxy's page, a broken API server): the API server was
 * reached, so it is no "unreachable" (red team 9, finding 6). The message gives the status and the
 * body's size, never the body (JSON.parse's own message quotes its first characters).
 */
export class KubeAnswerNotJson extends Error {
  override readonly name = 'KubeAnswerNotJson';
  readonly status: number;
  constructor(status: number, bytes: number) {
    super(`the API server answered HTTP ${String(status)} with a body that is not JSON (${String(bytes)} bytes)`);
    this.status = status;
  }
}

/**
 * One path segment or query value (a name, a namespace, a label selector) URI-encoded; "." and ".."
 * with their dots encoded too, so that no segment is ever a dot segment.
 */
export const segment = (s: string): string =>
  s === '.' || s === '..' ? s.replaceAll('.', '%2E') : encodeURIComponent(s);

/** One attribute of a client-node model class, as its generated `getAttributeTypeMap()` lists it. */
interface ModelAttribute {
  readonly name: string;
  readonly baseName: string;
  readonly type: string;
}

/** The model classes client-node exports, by name (V1SecurityContext, V1NetworkPolicySpec, ...). */
const MODELS = k8s as unknown as Readonly<Record<string, { getAttributeTypeMap?: () => readonly ModelAttribute[] }>>;

/**
 * `data` (a plain JSON value as the API server sent it) with only the fields client-node's model of
 * `type` knows (a model name such as `V1SecurityContext`, `Array<V1Volume>`, or a map type): what
 * client-node's ObjectSerializer would have kept of it, so that a comparison that read a typed
 * answer before reads the same fields of a plain JSON one (a field a newer API server defaults,
 * unknown to the model, is left out as it was). Dates, primitives, enums and unknown types are kept
 * as given (the compared parts, security contexts and policy specs, have no dates). Pure; returns
 * new objects for model types.
 */
export function knownFields(data: unknown, type: string): unknown {
  if (data === null || typeof data !== 'object') return data;
  if (type.startsWith('Array<') && Array.isArray(data))
    return data.map((d: unknown) => knownFields(d, type.slice(6, -1)));
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(data)) out[k] = knownFields(v, map[1] ?? '');
    return out;
  }
  const attributes = Object.hasOwn(MODELS, type) ? MODELS[type]?.getAttributeTypeMap?.() : undefined;
  if (attributes === undefined || Array.isArray(data)) return data;
  const out: Record<string, unknown> = {};
  for (const a of attributes) {
    const v = knownFields((data as Record<string, unknown>)[a.baseName], a.type);
    if (v !== undefined) out[a.name] = v;
  }
  return out;
}

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
