import { ApiException } from '@kubernetes/client-node';
import { describeThrown, fail, type Result } from '../errors/result.ts';
import { KubeAnswerNotJson } from './kube-json.ts';

/**
 * An API server's answer to a create, as a code: 409 CREATE_EXISTS, 400/403/404/422 CREATE_REJECTED,
 * else CREATE_FAILED. The message names `what` and says why as `apiCause` does (status, Status
 * reason, cause reasons), never the Status or cause `message`: the body of a refused Pod holds the
 * step's env values (a secret output's value among them, docs/workflows.md), and the API server's
 * validation or an admission webhook (Gatekeeper, Kyverno) may quote them there (red team 9,
 * finding 1). A thrown value that is not an API answer is CREATE_FAILED with its message.
 */
export function refused(thrown: unknown, what: string): Result<never> {
  if (thrown instanceof ApiException) {
    const cause = apiCause(thrown);
    if (thrown.code === 409) return fail('CREATE_EXISTS', `${what} already exists: ${cause}`);
    if (thrown.code === 403 || thrown.code === 422 || thrown.code === 400 || thrown.code === 404)
      return fail('CREATE_REJECTED', `API server rejected ${what}: ${cause}`);
    return fail('CREATE_FAILED', `API server error on ${what}: ${cause}`);
  }
  return fail('CREATE_FAILED', notAnswered(thrown));
}

/**
 * Why a request got no API answer, in words: a 2xx body that is not JSON as kube-json says it
 * (the server was reached), anything else (refused, reset, timed out) as unreachable.
 */
export function notAnswered(thrown: unknown): string {
  return thrown instanceof KubeAnswerNotJson ? thrown.message : `API server unreachable: ${describeThrown(thrown)}`;
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
 * e.g. `422 Invalid (spec.token: FieldValueTooLong)`; of the Status `message`, only the name a refusal
 * of Kubernetes' own admission gives at its start (`403 Forbidden: exceeded quota team-quota`,
 * `violates PodSecurity "restricted:latest"`, `denied by admission webhook <name>`; KNOWN_REFUSALS).
 * Otherwise never the Status `message` or a cause's
 * `message`, which may echo a value of the spec (a WorkflowRun's token); a field not in `fields` is
 * left out (a webhook may write anything there, a token included), and a reason is kept only when
 * it is one of Kubernetes' own StatusReason or CauseType values (a closed set,
 * https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/status/: a webhook sets the
 * reason it likes, and a word of letters can be a password). For a thrown
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
  const cause = [String(thrown.code), word(status.reason), causes.length > 0 ? `(${causes.join(', ')})` : undefined]
    .filter((x) => x !== undefined)
    .join(' ');
  const known = knownRefusal(status.message);
  return known === undefined ? cause : `${cause}: ${known}`;
}

/**
 * The refusals of Kubernetes' own admission, recognised at the start of a Status message (which the
 * API server writes before anything a webhook or the object adds), and what of them is kept: the
 * ResourceQuota's name, the PodSecurity level and version, the webhook configuration's name —
 * each from an object the cluster's administrator wrote, never from the request, and each of a
 * name's characters. The rest of the message (the quota's figures, the checks PodSecurity failed,
 * a webhook's own text) is never kept.
 */
const KNOWN_REFUSALS: readonly (readonly [RegExp, (m: RegExpExecArray) => string])[] = [
  [
    /^[a-z0-9.]{1,100} "[a-z0-9.-]{0,253}" is forbidden: exceeded quota: ([a-z0-9.-]{1,253}),/,
    (m) => `exceeded quota ${m[1]}`,
  ],
  [
    /^[a-z0-9.]{1,100} "[a-z0-9.-]{0,253}" is forbidden: violates PodSecurity "([a-z]{1,20}:(?:latest|v[0-9]{1,2}\.[0-9]{1,3}))"/,
    (m) => `violates PodSecurity "${m[1]}"`,
  ],
  [/^admission webhook "([a-z0-9.-]{1,253})" denied the request/, (m) => `denied by admission webhook ${m[1]}`],
];

function knownRefusal(message: unknown): string | undefined {
  if (typeof message !== 'string') return undefined;
  const head = message.slice(0, 1024);
  for (const [pattern, kept] of KNOWN_REFUSALS) {
    const m = pattern.exec(head);
    if (m !== null) return kept(m);
  }
  return undefined;
}

const NO_FIELDS: ReadonlySet<string> = new Set();

/**
 * Kubernetes' StatusReason values (k8s.io/apimachinery/pkg/apis/meta/v1/types.go) and CauseType
 * values (the same file, and field.ErrorType's causes): the only reasons an error message repeats.
 */
const REASONS: ReadonlySet<string> = new Set([
  // StatusReason
  'Unauthorized',
  'Forbidden',
  'NotFound',
  'AlreadyExists',
  'Conflict',
  'Gone',
  'Invalid',
  'ServerTimeout',
  'StoreReadError',
  'Timeout',
  'TooManyRequests',
  'BadRequest',
  'MethodNotAllowed',
  'NotAcceptable',
  'RequestEntityTooLarge',
  'UnsupportedMediaType',
  'InternalError',
  'Expired',
  'ServiceUnavailable',
  // CauseType
  'FieldValueNotFound',
  'FieldValueRequired',
  'FieldValueDuplicate',
  'FieldValueInvalid',
  'FieldValueNotSupported',
  'FieldValueForbidden',
  'FieldValueTooLong',
  'FieldValueTooMany',
  'FieldValueTypeInvalid',
  'UnexpectedServerResponse',
  'FieldManagerConflict',
  'ResourceVersionTooLarge',
]);

/** A StatusReason or CauseType Kubernetes defines; otherwise undefined. */
function word(value: unknown): string | undefined {
  return typeof value === 'string' && REASONS.has(value) ? value : undefined;
}
