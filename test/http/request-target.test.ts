/**
 * The request target's four forms (RFC 9112 §3.2). The class: a request whose target is not in
 * origin-form is routed differently from the same request in origin-form. Reported example (red
 * team 15, seen and left): `GET http://runner:8080/healthz HTTP/1.1` — absolute-form, which a server
 * MUST accept (§3.2.2) — answered 404 HTTP_NOT_FOUND. Now a target in absolute-form is routed by
 * its path exactly as origin-form is (both taken as sent: no dot-segment removal, no decoding), and
 * authority-form and asterisk-form have no path (404). Pure table and property over
 * src/adapters/http-route.ts, then raw sockets against the real server and admission (the door).
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { routeOf, targetPath } from '../../src/adapters/http-route.ts';
import { openDoor, type Door } from '../support/door.ts';

describe('the path of a request target', () => {
  const table: [target: string, path: string | undefined][] = [
    ['/healthz', '/healthz'],
    ['/ready?verbose=1', '/ready'],
    ['http://runner:8080/healthz', '/healthz'],
    ['https://runner/v1/assignments', '/v1/assignments'],
    ['HTTP://RUNNER/metrics', '/metrics'],
    ['http://runner', '/'],
    ['http://runner?x=1', '/'],
    ['http://runner/ready?x=/healthz', '/ready'],
    ['http://user@runner/healthz', undefined], // userinfo: an error (RFC 9110 §4.2.4)
    ['http:///metrics', undefined], // an empty host (RFC 9110 §4.2.1)
    ['http://runner:bad/healthz', undefined],
    ['/healthz#f', undefined], // a request carries no fragment
    ['http://runner/healthz#f', undefined],
    ['http://[::1]:8080/healthz', '/healthz'],
    ['http://runner/x/../healthz', '/x/../healthz'],
    ['http://runner/%68ealthz', '/%68ealthz'],
    ['runner:8080', undefined],
    ['*', undefined],
    ['ftp://runner/healthz', undefined],
    ['http:/runner/healthz', undefined],
    ['', undefined],
  ];
  for (const [target, path] of table)
    test(`${JSON.stringify(target)} → ${String(path)}`, () => assert.equal(targetPath(target), path));

  test('a target in absolute-form routes as its path in origin-form does (property, 2,000 runs)', () => {
    const segment = fc.constantFrom(
      'healthz',
      'ready',
      'metrics',
      'v1',
      'assignments',
      'cancellations',
      '..',
      '.',
      '',
      '%2F',
      'x',
    );
    const path = fc.array(segment, { maxLength: 4 }).map((s) => `/${s.join('/')}`);
    const authority = fc.constantFrom('runner', 'runner:8080', '127.0.0.1:9', '[::1]', 'a.b.c');
    const scheme = fc.constantFrom('http', 'https', 'HTTP', 'Https');
    const query = fc.constantFrom('', '?a=1', '?next=/healthz');
    fc.assert(
      fc.property(scheme, authority, path, query, (s, a, p, q) => {
        assert.equal(routeOf(`${s}://${a}${p}${q}`), routeOf(`${p}${q}`));
      }),
      { numRuns: 2000 },
    );
  });
});

/** Sends `request` on a raw socket to the door and returns the status line's code and the body. */
function raw(door: Door, request: string): Promise<{ status: number; body: string }> {
  const { port } = new URL(door.base);
  return new Promise((resolve, reject) => {
    let text = '';
    const sock = connect(Number(port), '127.0.0.1', () => sock.write(request));
    sock.on('data', (d: Buffer) => (text += d.toString('latin1')));
    sock.on('error', reject);
    sock.on('close', () =>
      resolve({
        status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]),
        body: text.slice(text.indexOf('\r\n\r\n') + 4),
      }),
    );
  });
}

describe('absolute-form requests against the real server and admission', () => {
  let door: Door;
  before(async () => {
    door = await openDoor({ name: 's', image: 'node:20', command: ['true'] });
  });
  after(() => door.close());

  const cases: [name: string, request: string, status: number, code?: string][] = [
    [
      'GET http://runner:8080/healthz',
      'GET http://runner:8080/healthz HTTP/1.1\r\nHost: runner\r\nConnection: close\r\n\r\n',
      200,
    ],
    ['GET HTTP://RUNNER/ready', 'GET HTTP://RUNNER/ready HTTP/1.1\r\nHost: runner\r\nConnection: close\r\n\r\n', 200],
    [
      'GET http://other/metrics (authority and Host differ)',
      'GET http://other/metrics HTTP/1.1\r\nHost: runner\r\nConnection: close\r\n\r\n',
      200,
    ],
    [
      'POST http://runner/v1/assignments with a body that is no JWS',
      'POST http://runner/v1/assignments HTTP/1.1\r\nHost: runner\r\nContent-Type: application/jwt\r\nContent-Length: 7\r\nConnection: close\r\n\r\nnot-jws',
      400,
      'RECEIVE_MALFORMED',
    ],
    [
      'GET http://runner/v1/assignments',
      'GET http://runner/v1/assignments HTTP/1.1\r\nHost: runner\r\nConnection: close\r\n\r\n',
      405,
      'HTTP_METHOD_NOT_ALLOWED',
    ],
    [
      'GET http://runner/x/../healthz (no dot-segment removal, as origin-form)',
      'GET http://runner/x/../healthz HTTP/1.1\r\nHost: runner\r\nConnection: close\r\n\r\n',
      404,
      'HTTP_NOT_FOUND',
    ],
    [
      'OPTIONS * (asterisk-form)',
      'OPTIONS * HTTP/1.1\r\nHost: runner\r\nConnection: close\r\n\r\n',
      404,
      'HTTP_NOT_FOUND',
    ],
  ];
  for (const [name, request, status, code] of cases)
    test(`${name} → ${status}${code === undefined ? '' : ` ${code}`}`, async () => {
      const r = await raw(door, request);
      assert.equal(r.status, status, r.body);
      if (code !== undefined) assert.match(r.body, new RegExp(`"code":"${code}"`));
    });
});
