/**
 * The class: an API server's answer put into an error message, a log line or an audit record with
 * something the request carried. The WorkflowRun's spec holds the assignment token; the API server
 * (CRD validation, an admission webhook, a quota) may echo spec values in the Status `message` and in
 * each cause's `message`. apiCause keeps what says why — the HTTP status, the Status `reason`, each
 * cause's `reason`, and its `field` only when the caller names it as one of the request's own fields
 * — and drops every message; a reason that is not a word is dropped too (a webhook writes what it
 * likes in either, a token included: a JWT segment is a valid field-path segment). Before: the intake's
 * CREATE_FAILED said only "(422)" and dropped the cause (an operator could not tell a quota from a
 * schema refusal).
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { test } from 'node:test';
import { ApiException } from '@kubernetes/client-node';
import fc from 'fast-check';
import { statusHolding } from '../support/hostile-status.ts';
import { apiCause } from '../../src/adapters/kube-errors.ts';
import { KubeRunStore } from '../../src/adapters/kube-runs.ts';
import type { AdmittedRun } from '../../src/run/admitted.ts';
import { loopbackKubeConfig } from '../support/api-stand-in.ts';

const TOKEN = 'eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXNlY3JldA';
const api = (code: number, body: unknown): ApiException<unknown> => new ApiException(code, `HTTP ${code}`, body, {});

test('what an operator needs, from the Status and its causes', () => {
  const cases: [string, ApiException<unknown> | Error, string][] = [
    [
      'CRD validation',
      api(422, {
        kind: 'Status',
        reason: 'Invalid',
        message: `WorkflowRun "x" is invalid: spec.token: Invalid value: "${TOKEN}"`,
        details: {
          causes: [{ reason: 'FieldValueInvalid', field: 'spec.token', message: `Invalid value: "${TOKEN}"` }],
        },
      }),
      '422 Invalid (spec.token: FieldValueInvalid)',
    ],
    [
      'quota',
      api(403, { reason: 'Forbidden', message: 'exceeded quota: q, requested: count/workflowruns=1' }),
      '403 Forbidden',
    ],
    ['a webhook denial with no reason', api(400, { message: `denied: ${TOKEN}` }), '400'],
    ['a text body', api(500, `internal error echoing ${TOKEN}`), '500'],
    ['no body', api(503, undefined), '503'],
    [
      'a reason that is not a word; a field the caller did not name (the token itself)',
      api(422, { reason: TOKEN, details: { causes: [{ field: TOKEN, reason: 'Bad Reason!' }] } }),
      '422',
    ],
    [
      'six causes: five kept',
      api(422, {
        reason: 'Invalid',
        details: {
          causes: Array.from({ length: 6 }, (_, i) => ({ field: `spec.f${i}`, reason: 'FieldValueRequired' })),
        },
      }),
      '422 Invalid (spec.f0: FieldValueRequired, spec.f1: FieldValueRequired, spec.f2: FieldValueRequired, spec.f3: FieldValueRequired, spec.f4: FieldValueRequired)',
    ],
    ['unreachable', new Error('connect ECONNREFUSED 127.0.0.1:6443'), 'connect ECONNREFUSED 127.0.0.1:6443'],
  ];
  const fields = new Set(['spec.token', 'spec.f0', 'spec.f1', 'spec.f2', 'spec.f3', 'spec.f4', 'spec.f5']);
  for (const [what, thrown, expected] of cases) assert.equal(apiCause(thrown, fields), expected, what);
  assert.equal(
    apiCause(cases[0]![1]),
    '422 Invalid (FieldValueInvalid)',
    'a field the caller did not name is left out',
  );
});

test('property: a secret anywhere in the answer (message, reason, field, name, as JSON or text) never reaches the cause', () => {
  // A secret-like value (a JWT's alphabet, 20+ characters, at least one dot) placed anywhere in a Status.
  const secret = fc
    .tuple(fc.stringMatching(/^[A-Za-z0-9_-]{10,40}$/), fc.stringMatching(/^[A-Za-z0-9_-]{10,40}$/))
    .map(([a, b]) => `${a}.${b}`);
  const anywhere = (s: string) =>
    statusHolding(s, {
      reason: fc.oneof(fc.constant(s), fc.constant('Invalid'), fc.string()),
      message: fc.oneof(
        fc.constant(s),
        fc.string().map((t) => `${t}${s}`),
      ),
      causeField: fc.oneof(fc.constant(s), fc.constant(`spec.token[${s}]`), fc.constant('spec.token'), fc.string()),
      causeReason: fc.oneof(fc.constant(s), fc.constant('FieldValueInvalid')),
    });
  fc.assert(
    fc.property(
      secret.chain((s) => fc.tuple(fc.constant(s), anywhere(s), fc.integer({ min: 400, max: 599 }), fc.boolean())),
      ([s, status, code, asText]) => {
        const cause = apiCause(
          api(code, asText ? JSON.stringify(status) : status),
          new Set(['spec.token', 'metadata.name']),
        );
        assert.ok(!cause.includes(s), `${cause} carries the secret`);
        assert.ok(cause.startsWith(String(code)));
      },
    ),
    { numRuns: 2000 },
  );
});

test("the intake's CREATE_FAILED for a refused WorkflowRun says why, and never the token (real HTTP)", async () => {
  const server = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    if (req.method === 'GET') {
      res.end(JSON.stringify({ apiVersion: 'kubiya.ai/v1alpha1', kind: 'WorkflowRunList', metadata: {}, items: [] }));
      return;
    }
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const token = (JSON.parse(body) as { spec: { token: string } }).spec.token;
      res.writeHead(422);
      res.end(
        JSON.stringify({
          kind: 'Status',
          status: 'Failure',
          code: 422,
          reason: 'Invalid',
          message: `WorkflowRun.kubiya.ai "r" is invalid: spec.token: Invalid value: "${token}": too long`,
          details: {
            causes: [{ reason: 'FieldValueTooLong', field: 'spec.token', message: `Invalid value: "${token}"` }],
          },
        }),
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const { port } = server.address() as { port: number };
    const kc = loopbackKubeConfig(port);
    const runs = new KubeRunStore(kc, 'ns', 'r');
    const run = { name: 'run-1', ref: { id: 'wf', jti: 'j1' }, workflow: { runId: 'run-1' } } as unknown as AdmittedRun;
    const created = await runs.create(run, TOKEN);
    assert.equal(created.ok, false);
    if (!created.ok) {
      assert.equal(created.error.code, 'CREATE_FAILED');
      assert.equal(created.error.message, 'could not record the run: 422 Invalid (spec.token: FieldValueTooLong)');
      assert.ok(!JSON.stringify(created.error).includes(TOKEN));
    }
  } finally {
    server.closeAllConnections();
    server.close();
  }
});
