/**
 * The runner's DNS policy confirmed before each step (src/adapters/kube-step-objects.ts
 * `ensureStepDns`), with calls that wait at the same time sharing one confirmation (FreshReads,
 * kube-fresh.ts; issue 20, h-steps-6). Served by a real loopback stand-in for the API server that
 * holds a GET until told. The class: "a pass is confirmed by a read that began before it asked" —
 * a policy widened while an earlier read was in flight must still be seen (and replaced) before
 * the passes that asked after that read began are confirmed (red team 4, finding 2).
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { V1NetworkPolicy } from '@kubernetes/client-node';
import { KubeStepObjects } from '../../src/adapters/kube-step-objects.ts';
import type { PooledKubeConfig } from '../../src/adapters/kubeconfig.ts';
import { stepDnsPolicy } from '../../src/egress/network-policy.ts';
import { pooledKubeConfigAt } from '../support/pooled-stand-in.ts';

const NS = 'wf';
const RUNNER = 'fresh-runner';
const dns = stepDnsPolicy({ runner: RUNNER, namespace: NS, dnsNamespace: 'kube-system' });
const dnsName = dns.metadata?.name ?? '';
const npPath = `/apis/networking.k8s.io/v1/namespaces/${NS}/networkpolicies`;

const plain = <T>(o: T): T => JSON.parse(JSON.stringify(o)) as T;
const widened = (): V1NetworkPolicy => {
  const p = plain(dns);
  p.spec?.egress?.push({ to: [{ ipBlock: { cidr: '0.0.0.0/0' } }] });
  return p;
};

describe('ensureStepDns: waiting calls share a read, never one older than their call', () => {
  /** The policy as the stand-in holds it now (undefined: none). */
  let stored: V1NetworkPolicy | undefined = plain(dns);
  /** While set, a GET is answered only when `release` is called, with the policy as it was when the GET arrived. */
  let hold = false;
  const held: (() => void)[] = [];
  const seen: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    req.on('end', () => {
      seen.push(req.method ?? '');
      const answer = (status: number, body: unknown): void => {
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      };
      if (req.method === 'GET' && req.url === `${npPath}/${dnsName}`) {
        const now = stored === undefined ? undefined : plain(stored);
        const send = (): void =>
          now === undefined ? answer(404, { kind: 'Status', code: 404, reason: 'NotFound' }) : answer(200, now);
        if (hold) held.push(send);
        else send();
      } else if (req.method === 'DELETE' && req.url === `${npPath}/${dnsName}`) {
        stored = undefined;
        answer(200, { kind: 'Status', status: 'Success' });
      } else if (req.method === 'POST' && req.url === npPath) {
        stored = plain(dns);
        answer(201, stored);
      } else answer(404, { kind: 'Status', code: 404, reason: 'NotFound' });
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  let kc: PooledKubeConfig;

  before(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as { port: number };
    kc = pooledKubeConfigAt(port, 5000);
  });
  after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
  });

  /** Waits (5 s at most: a GET that never comes fails the test, not hangs it) until the stand-in holds `n` GETs. */
  const holding = async (n: number): Promise<void> => {
    for (let i = 0; held.length < n; i++) {
      if (i === 1000) assert.fail(`the stand-in holds ${held.length} GET(s), expected ${n}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  };

  test('widened while the first read was in flight: the calls made meanwhile are confirmed only after a second read replaced it', async () => {
    stored = plain(dns);
    seen.length = 0;
    hold = true;
    const objects = new KubeStepObjects(kc, NS, RUNNER);
    const first = objects.ensureStepDns(dns);
    await holding(1);
    // Asked while the first read is in flight; then the policy is widened, still before that read is answered.
    const later = Array.from({ length: 5 }, () => objects.ensureStepDns(dns));
    stored = widened();
    held.shift()?.();
    assert.ok((await first).ok, 'the first read saw the policy as rendered');
    await holding(1);
    hold = false;
    held.shift()?.();
    const results = await Promise.all(later);
    assert.deepEqual(
      results.map((r) => r.ok),
      [true, true, true, true, true],
    );
    // One read for the first call, ONE for the five that waited (not five), and the widened policy replaced.
    assert.deepEqual(seen, ['GET', 'GET', 'DELETE', 'POST']);
    assert.deepEqual(stored?.spec, plain(dns).spec);
  });

  test('calls one after another each read again (a confirmation is never reused)', async () => {
    stored = plain(dns);
    seen.length = 0;
    hold = false;
    const objects = new KubeStepObjects(kc, NS, RUNNER);
    for (let i = 0; i < 3; i++) assert.ok((await objects.ensureStepDns(dns)).ok);
    assert.deepEqual(seen, ['GET', 'GET', 'GET']);
    stored = widened();
    assert.ok((await objects.ensureStepDns(dns)).ok);
    assert.deepEqual(seen.slice(3), ['GET', 'DELETE', 'POST']);
  });

  test("another runner's policy asked at the same time never shares this one's read", async () => {
    stored = plain(dns);
    seen.length = 0;
    hold = false;
    const objects = new KubeStepObjects(kc, NS, RUNNER);
    const other = stepDnsPolicy({ runner: 'other-runner', namespace: NS, dnsNamespace: 'kube-system' });
    const [mine, theirs] = await Promise.all([objects.ensureStepDns(dns), objects.ensureStepDns(other)]);
    assert.ok(mine.ok);
    // The other policy's name is not served (404), so it is created: its own GET and POST.
    assert.ok(theirs.ok);
    assert.equal(seen.filter((m) => m === 'GET').length, 2);
  });
});
