/**
 * src/adapters/kube-json.ts: a plain JSON request through a PooledKubeConfig must behave, for its
 * caller, as the client-node call it replaces. The class: "a request path that bypasses
 * client-node's API layer loses something client-node's path had". Variants, each against a real
 * loopback stand-in for the API server:
 *  - credentials: the kubeconfig's bearer token on every request (read per request: a rotated token is used at once);
 *  - identity: the User-Agent client-node's typed call sends, on every method (the API server names
 *    the field manager of a write after it, "unknown" without one, and audits it);
 *  - body: sent as JSON with its content type (POST json, PATCH merge or JSON patch), nothing on a GET;
 *  - answers: 2xx parsed; 409 / 422 / 500 as ApiException with the status code and the parsed Status (callers map codes on it);
 *    a body that is not JSON kept as text;
 *  - bounds: the request timeout (headers) and the total deadline (a trickled body) apply, are
 *    reported with their phase, and retire the pool (the next request gets a new connection);
 *  - paths: a name with characters outside a DNS label is encoded by `segment`, never splices a path.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { after, afterEach, before, describe, test } from 'node:test';
import { ApiException, CoreV1Api } from '@kubernetes/client-node';
import { KubeAnswerNotJson, kubeJson, segment } from '../../src/adapters/kube-json.ts';
import { notAnswered } from '../../src/adapters/kube-errors.ts';
import { PooledKubeConfig, type ApiOptions } from '../../src/adapters/kubeconfig.ts';

interface Seen {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

type Answer = 'ok' | 'conflict' | 'invalid' | 'error' | 'text' | 'hang' | 'trickle' | 'page' | 'empty' | 'truncated';

describe('kubeJson: a plain JSON API request through the pooled KubeConfig', () => {
  let answer: Answer = 'ok';
  const seen: Seen[] = [];
  const sockets = new Set<Socket>();
  let connections = 0;
  const timers = new Set<NodeJS.Timeout>();
  const status = (code: number, reason: string) =>
    JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason, code, message: `${reason} here` });
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      const json = { 'content-type': 'application/json' };
      if (answer === 'ok') res.writeHead(200, json).end(JSON.stringify({ kind: 'X', metadata: { uid: 'u-1' } }));
      else if (answer === 'conflict') res.writeHead(409, json).end(status(409, 'AlreadyExists'));
      else if (answer === 'invalid') res.writeHead(422, json).end(status(422, 'Invalid'));
      else if (answer === 'error') res.writeHead(500, json).end(status(500, 'InternalError'));
      else if (answer === 'text') res.writeHead(503, { 'content-type': 'text/plain' }).end('not json');
      else if (answer === 'page') res.writeHead(200, json).end('<html>eyJhbGciOiJFZERTQSJ9 proxy page</html>');
      else if (answer === 'empty') res.writeHead(200, json).end('');
      else if (answer === 'truncated') res.writeHead(201, json).end('{"kind":"X","token":"eyJhbGciOiJFZERTQSJ9');
      else if (answer === 'trickle') {
        const full = JSON.stringify({ kind: 'X', pad: 'y'.repeat(40) });
        res.writeHead(200, { ...json, 'content-length': String(full.length) });
        let i = 0;
        const t = setInterval(() => {
          if (res.destroyed || i >= full.length) return clearInterval(t);
          res.write(full[i++]);
        }, 100);
        timers.add(t);
      } // 'hang': no answer at all
    });
  });
  server.on('connection', (s) => {
    connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  const timeouts: string[] = [];
  let token = 'first-token';
  const kubeconfig = (o: Partial<Omit<ApiOptions, 'observer'>> = {}): PooledKubeConfig => {
    const kc = new PooledKubeConfig({
      requestTimeoutMs: 400,
      watchTimeoutSeconds: 1,
      watchIdleMs: 1500,
      relistMs: 60_000,
      ...o,
      observer: { requestTimedOut: (p) => timeouts.push(p), watchRestarted: () => undefined },
    });
    const { port } = server.address() as { port: number };
    kc.loadFromOptions({
      clusters: [{ name: 'f', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
      users: [{ name: 'u', token }],
      contexts: [{ name: 'c', cluster: 'f', user: 'u' }],
      currentContext: 'c',
    });
    return kc;
  };

  before(() => new Promise<void>((r) => server.listen(0, '127.0.0.1', r)));
  afterEach(() => {
    for (const t of timers) clearInterval(t);
    timers.clear();
    for (const s of sockets) s.destroy();
    seen.length = 0;
    timeouts.length = 0;
    answer = 'ok';
    token = 'first-token';
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  test('a POST sends the body once as JSON with the bearer token, and resolves with the parsed answer', async () => {
    const kc = kubeconfig();
    const body = { apiVersion: 'kubiya.ai/v1alpha1', kind: 'WorkflowRun', metadata: { name: 'wr-a' }, spec: { n: 1 } };
    const out = await kubeJson<{ metadata: { uid: string } }>(kc, {
      method: 'POST',
      path: '/apis/kubiya.ai/v1alpha1/namespaces/wf/workflowruns',
      body,
    });
    assert.equal(out.metadata.uid, 'u-1');
    const [r] = seen;
    assert.equal(r?.method, 'POST');
    assert.equal(r?.url, '/apis/kubiya.ai/v1alpha1/namespaces/wf/workflowruns');
    assert.equal(r?.headers.authorization, 'Bearer first-token');
    assert.equal(r?.headers['content-type'], 'application/json');
    assert.equal(r?.headers.accept, 'application/json');
    assert.deepEqual(JSON.parse(r?.body ?? ''), body);
    kc.renewConnections();
  });

  for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const)
    test(`a ${method} sends the User-Agent the typed client sends (the field manager of a write)`, async () => {
      const kc = kubeconfig();
      await kc.makeApiClient(CoreV1Api).readNamespace({ name: 'wf' });
      const typed = seen[0]?.headers['user-agent'];
      assert.match(typed ?? '', /^kubernetes-client-javascript\/\d/);
      await kubeJson(kc, {
        method,
        path: '/apis/kubiya.ai/v1alpha1/namespaces/wf/workflowruns/wr-a',
        ...(method === 'POST' || method === 'PUT' || method === 'PATCH' ? { body: { spec: { n: 1 } } } : {}),
      });
      assert.equal(seen[1]?.method, method);
      assert.equal(seen[1]?.headers['user-agent'], typed);
      kc.renewConnections();
    });

  const patches: { patchType?: 'application/merge-patch+json' | 'application/json-patch+json'; want: string }[] = [
    { want: 'application/merge-patch+json' },
    { patchType: 'application/json-patch+json', want: 'application/json-patch+json' },
  ];
  for (const p of patches)
    test(`a PATCH is sent as ${p.want}`, async () => {
      const kc = kubeconfig();
      await kubeJson(kc, {
        method: 'PATCH',
        path: '/apis/kubiya.ai/v1alpha1/namespaces/wf/workflowruns/wr-a/status',
        body: [{ op: 'add', path: '/status', value: {} }],
        ...(p.patchType !== undefined ? { patchType: p.patchType } : {}),
      });
      assert.equal(seen[0]?.headers['content-type'], p.want);
      kc.renewConnections();
    });

  // Red team 9, finding 6: a 2xx answer that is not JSON was reported as "API server unreachable"
  // with JSON.parse's message, which quotes the body's first characters.
  for (const bad of ['page', 'empty', 'truncated'] as const)
    test(`a 2xx answer that is not JSON (${bad}) throws KubeAnswerNotJson: the status and size, never the body`, async () => {
      const kc = kubeconfig();
      answer = bad;
      try {
        const thrown = await kubeJson(kc, { method: 'GET', path: '/api/v1/namespaces/wf/pods' }).then(
          () => assert.fail('resolved'),
          (e: unknown) => e,
        );
        assert.ok(thrown instanceof KubeAnswerNotJson, String(thrown));
        assert.match(
          thrown.message,
          /^the API server answered HTTP 20[01] with a body that is not JSON \(\d+ bytes\)$/,
        );
        assert.doesNotMatch(notAnswered(thrown), /unreachable|eyJ|html/);
      } finally {
        answer = 'ok';
        kc.renewConnections();
      }
    });

  test('a GET sends no body and no content type; the query goes as given', async () => {
    const kc = kubeconfig();
    await kubeJson(kc, { method: 'GET', path: `/apis/g/v/namespaces/wf/xs?labelSelector=${segment('a/b=c d')}` });
    assert.equal(seen[0]?.method, 'GET');
    assert.equal(seen[0]?.url, '/apis/g/v/namespaces/wf/xs?labelSelector=a%2Fb%3Dc%20d');
    assert.equal(seen[0]?.headers['content-type'], undefined);
    assert.equal(seen[0]?.body, '');
    kc.renewConnections();
  });

  test('credentials are applied per request: a changed token is used by the next request', async () => {
    const kc = kubeconfig();
    await kubeJson(kc, { method: 'GET', path: '/api/v1/namespaces/wf/pods' });
    const user = kc.getCurrentUser() as { token?: string };
    user.token = 'rotated-token';
    await kubeJson(kc, { method: 'GET', path: '/api/v1/namespaces/wf/pods' });
    assert.deepEqual(
      seen.map((s) => s.headers.authorization),
      ['Bearer first-token', 'Bearer rotated-token'],
    );
    kc.renewConnections();
  });

  const refusals: { answer: Answer; code: number; body: unknown }[] = [
    { answer: 'conflict', code: 409, body: 'AlreadyExists' },
    { answer: 'invalid', code: 422, body: 'Invalid' },
    { answer: 'error', code: 500, body: 'InternalError' },
    { answer: 'text', code: 503, body: 'not json' },
  ];
  for (const r of refusals)
    test(`HTTP ${r.code} rejects with ApiException code ${r.code} and the ${typeof r.body === 'string' && r.answer === 'text' ? 'text' : 'parsed Status'}`, async () => {
      const kc = kubeconfig();
      answer = r.answer;
      const thrown = await kubeJson(kc, { method: 'POST', path: '/api/v1/namespaces/wf/pods', body: {} }).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(thrown instanceof ApiException, String(thrown));
      assert.equal(thrown.code, r.code);
      const body = thrown.body as { reason?: string } | string;
      assert.equal(typeof body === 'string' ? body : body.reason, r.body);
      kc.renewConnections();
    });

  const bounds: { answer: Answer; options: Partial<Omit<ApiOptions, 'observer'>>; phase: string; boundMs: number }[] = [
    { answer: 'hang', options: {}, phase: 'headers', boundMs: 400 },
    { answer: 'trickle', options: { requestDeadlineMs: 900 }, phase: 'total', boundMs: 900 },
  ];
  for (const b of bounds)
    test(`${b.answer}: the kubeconfig's bound applies (phase '${b.phase}', ${b.boundMs} ms) and retires the pool`, async () => {
      const kc = kubeconfig(b.options);
      await kubeJson(kc, { method: 'GET', path: '/api/v1/namespaces/wf/pods' });
      const before = connections;
      answer = b.answer;
      const t0 = performance.now();
      await assert.rejects(kubeJson(kc, { method: 'GET', path: '/api/v1/namespaces/wf/pods' }));
      const took = performance.now() - t0;
      assert.ok(took >= b.boundMs - 50 && took < b.boundMs + 1000, `ended after ${Math.round(took)} ms`);
      assert.ok(timeouts.includes(b.phase), `timeouts reported: ${JSON.stringify(timeouts)}`);
      answer = 'ok';
      await kubeJson(kc, { method: 'GET', path: '/api/v1/namespaces/wf/pods' });
      assert.ok(connections > before, 'the next request is answered on a new connection');
      kc.renewConnections();
    });

  const names = ['wr-a', 'a/../../x', 'a?watch=true', 'a#b', 'a b', '..'];
  test('segment() keeps every name one path segment (no traversal, query or fragment injected)', async () => {
    const kc = kubeconfig();
    for (const name of names)
      await kubeJson(kc, { method: 'GET', path: `/apis/g/v/namespaces/wf/xs/${segment(name)}` });
    for (const [i, s] of seen.entries()) {
      const path = s.url.split('?')[0] ?? '';
      assert.ok(path.startsWith('/apis/g/v/namespaces/wf/xs/'), s.url);
      assert.equal(decodeURIComponent(path.slice('/apis/g/v/namespaces/wf/xs/'.length)), names[i]);
      assert.equal(s.url.includes('?'), false, s.url);
    }
    kc.renewConnections();
  });
});
