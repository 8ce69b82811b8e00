/**
 * apiCause, refused and notAnswered (src/adapters/kube-errors.ts) case by case: the tables the
 * mutation run of this module showed missing (`npm run test:mutation kube-errors`, 1 December: 49 of
 * 185 mutants survived). Every reason Kubernetes defines is kept, as the Status reason and as a
 * cause's; every shape of answer body is read or ignored without throwing; each known refusal is
 * recognised only at the start of the message, with the versions PodSecurity really names; a thrown
 * value that is no API answer is CREATE_FAILED with its own words.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApiException } from '@kubernetes/client-node';
import { apiCause, notAnswered, refused } from '../../src/adapters/kube-errors.ts';
import { KubeAnswerNotJson } from '../../src/adapters/kube-json.ts';

const api = (code: number, body: unknown): ApiException<unknown> => new ApiException(code, `HTTP ${code}`, body, {});

/**
 * k8s.io/apimachinery/pkg/apis/meta/v1/types.go: StatusReason values, and CauseType values (with
 * field.ErrorType's causes) — written out here as the specification the module's set must match.
 */
const STATUS_REASONS = [
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
];
const CAUSE_TYPES = [
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
];

test('every reason Kubernetes defines is kept, as the Status reason and as a cause reason; a near miss is not', () => {
  for (const reason of [...STATUS_REASONS, ...CAUSE_TYPES]) {
    assert.equal(apiCause(api(422, { reason })), `422 ${reason}`, reason);
    assert.equal(apiCause(api(422, { details: { causes: [{ reason }] } })), `422 (${reason})`, reason);
    for (const near of [reason.toLowerCase(), `${reason} `, `${reason}x`])
      assert.equal(apiCause(api(422, { reason: near })), '422', near);
  }
});

test('every shape of answer body is read where it is a Status and ignored where it is not', () => {
  const cases: [string, unknown, string][] = [
    [
      'a Status as JSON text',
      JSON.stringify({ reason: 'Invalid', details: { causes: [{ reason: 'FieldValueRequired' }] } }),
      '422 Invalid (FieldValueRequired)',
    ],
    ['JSON text that is no object', JSON.stringify('Invalid'), '422'],
    ['text that is no JSON', 'Invalid', '422'],
    ['null', null, '422'],
    ['a number', 7, '422'],
    ['an array', ['Invalid'], '422'],
    ['details null', { reason: 'Invalid', details: null }, '422 Invalid'],
    ['details a string', { reason: 'Invalid', details: 'FieldValueRequired' }, '422 Invalid'],
    ['causes an object', { reason: 'Invalid', details: { causes: { reason: 'FieldValueRequired' } } }, '422 Invalid'],
    ['causes null', { reason: 'Invalid', details: { causes: null } }, '422 Invalid'],
    [
      'a cause that is null, a string, an array; then a real one',
      { details: { causes: [null, 'FieldValueRequired', ['FieldValueRequired'], { reason: 'FieldValueInvalid' }] } },
      '422 (FieldValueInvalid)',
    ],
    [
      'a cause with a field named by the caller but no reason',
      { details: { causes: [{ field: 'spec.token' }] } },
      '422 (spec.token)',
    ],
    [
      'a cause whose field is no string',
      { details: { causes: [{ field: 7, reason: 'FieldValueInvalid' }] } },
      '422 (FieldValueInvalid)',
    ],
  ];
  for (const [what, body, expected] of cases)
    assert.equal(apiCause(api(422, body), new Set(['spec.token'])), expected, what);
});

test("each of Kubernetes' own refusals is kept only from the start of the message, with real PodSecurity versions", () => {
  const cases: [string, string, string][] = [
    [
      'quota',
      'pods "p-1" is forbidden: exceeded quota: team-quota, requested: pods=1',
      '403 Forbidden: exceeded quota team-quota',
    ],
    [
      'quota, mid-message (a webhook quoting it)',
      'denied: pods "p-1" is forbidden: exceeded quota: team-quota, requested',
      '403 Forbidden',
    ],
    [
      'PodSecurity latest',
      'pods "p" is forbidden: violates PodSecurity "restricted:latest": allowPrivilegeEscalation',
      '403 Forbidden: violates PodSecurity "restricted:latest"',
    ],
    [
      'PodSecurity v1.31 (two-digit minor)',
      'pods "p" is forbidden: violates PodSecurity "baseline:v1.31": host namespaces',
      '403 Forbidden: violates PodSecurity "baseline:v1.31"',
    ],
    [
      'PodSecurity v1.7',
      'pods "p" is forbidden: violates PodSecurity "restricted:v1.7": x',
      '403 Forbidden: violates PodSecurity "restricted:v1.7"',
    ],
    ['PodSecurity, mid-message', 'x: pods "p" is forbidden: violates PodSecurity "restricted:latest"', '403 Forbidden'],
    [
      'PodSecurity with a version that is no version',
      'pods "p" is forbidden: violates PodSecurity "restricted:vx.y"',
      '403 Forbidden',
    ],
    [
      'a webhook',
      'admission webhook "validation.gatekeeper.sh" denied the request: [no-latest] image uses latest',
      '403 Forbidden: denied by admission webhook validation.gatekeeper.sh',
    ],
    ['a webhook, mid-message', 'x admission webhook "w.example.com" denied the request', '403 Forbidden'],
  ];
  for (const [what, message, expected] of cases)
    assert.equal(apiCause(api(403, { reason: 'Forbidden', message })), expected, what);
  assert.equal(apiCause(api(403, { reason: 'Forbidden', message: 7 })), '403 Forbidden', 'a message that is no string');
});

test('refused: each answer code to its error code; a thrown value that is no answer is CREATE_FAILED in its own words', () => {
  const cases: [unknown, string, string][] = [
    [api(409, { reason: 'AlreadyExists' }), 'CREATE_EXISTS', 'the pod already exists: 409 AlreadyExists'],
    [api(400, { reason: 'BadRequest' }), 'CREATE_REJECTED', 'API server rejected the pod: 400 BadRequest'],
    [api(403, { reason: 'Forbidden' }), 'CREATE_REJECTED', 'API server rejected the pod: 403 Forbidden'],
    [api(404, { reason: 'NotFound' }), 'CREATE_REJECTED', 'API server rejected the pod: 404 NotFound'],
    [api(422, { reason: 'Invalid' }), 'CREATE_REJECTED', 'API server rejected the pod: 422 Invalid'],
    [api(500, { reason: 'InternalError' }), 'CREATE_FAILED', 'API server error on the pod: 500 InternalError'],
    [api(429, { reason: 'TooManyRequests' }), 'CREATE_FAILED', 'API server error on the pod: 429 TooManyRequests'],
    [
      new Error('connect ECONNREFUSED 127.0.0.1:6443'),
      'CREATE_FAILED',
      'API server unreachable: connect ECONNREFUSED 127.0.0.1:6443',
    ],
    [
      new KubeAnswerNotJson(200, 12),
      'CREATE_FAILED',
      'the API server answered HTTP 200 with a body that is not JSON (12 bytes)',
    ],
  ];
  for (const [thrown, code, message] of cases) {
    const r = refused(thrown, 'the pod');
    assert.ok(!r.ok);
    if (r.ok) continue;
    assert.deepEqual([r.error.code, r.error.message], [code, message]);
  }
  assert.equal(notAnswered('socket hang up'), 'API server unreachable: socket hang up');
});
