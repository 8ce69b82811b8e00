import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { STEP_IMAGE } from '../../src/dev/node/catalogue.ts';
import { NODE } from '../../src/dev/node/configs.ts';
import { realNodeCluster, realNodeSkip, type RealNodeEnv } from '../support/real-node.ts';
import { startRealRunner, stepLog, type RealRunner } from '../support/real-runner.ts';

const skip = realNodeSkip();
const RESOURCES = { requests: { cpu: '50m', memory: '32Mi' }, limits: { cpu: '500m', memory: '64Mi' } };
const GRANTED_PORT = 18083;

/**
 * Issue 20 §2 on the real node (kube-router enforcing): a step granted nothing beyond DNS has no
 * policy of its own — the runner's one DNS policy and the namespace default deny apply to it. The
 * class: a step pod under an allow its own decision did not grant. Run A is granted a destination
 * and keeps its pod (and so its policy) alive while run B, same step name, granted DNS only, tries
 * that destination from its first instruction on (the start-up window, with the egress gate as
 * `dev cluster up --real-node` installs it) and resolves a name through the cluster DNS. A must
 * get through (so B's refusal means something); B must resolve and never get through, counted on
 * the server's side by B's pod address too.
 */
describe('real node: a DNS-only step cannot reach what another run was granted; its DNS works', { skip }, () => {
  let rn: RealNodeEnv;
  let runner: RealRunner;
  let srv: Server;
  const reached: string[] = [];
  before(async () => {
    rn = await realNodeCluster();
    srv = createServer((req, res) => {
      reached.push(req.socket.remoteAddress ?? '?');
      res.end('granted-REACHED\n');
    });
    await new Promise<void>((resolve) => srv.listen(GRANTED_PORT, NODE.ip, resolve));
    runner = await startRealRunner(rn.env, {
      name: 'grants-runner',
      allowed: [{ host: 'allowed.kubiya.test', cidrs: [`${NODE.ip}/32`], ports: [GRANTED_PORT] }],
    });
  });
  after(async () => {
    await runner?.close();
    srv?.close();
    const left = await rn?.close();
    assert.deepEqual(left ?? [], [], 'down restored the host');
  });

  const tries = (n: number, pause: string) => `i=0
while [ $i -lt ${String(n)} ]; do
  if printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 1 ${NODE.ip} ${String(GRANTED_PORT)} 2>/dev/null | grep -q REACHED; then echo "try $i: REACHED"; else echo "try $i: blocked"; fi
  i=$((i + 1))
  sleep ${pause}
done`;

  test("run B (DNS only) never reaches run A's granted destination while A's policy is in force; B's DNS answers", async () => {
    const granted = runner.run(
      {
        id: 'grants-a',
        steps: [
          {
            name: 'work',
            image: STEP_IMAGE,
            command: ['sh', '-c', `${tries(30, '0.5')}\necho "my address: $(hostname -i)"`],
            resources: RESOURCES,
            egress: [{ host: 'allowed.kubiya.test', ports: [GRANTED_PORT] }],
          },
        ],
      },
      1,
      180_000,
    );
    // A's pod (and policy) first; B starts while A keeps trying.
    await sleep(4000);
    const dnsOnly = runner.run(
      {
        id: 'grants-b',
        steps: [
          {
            name: 'work',
            image: STEP_IMAGE,
            command: [
              'sh',
              '-c',
              `echo "my address: $(hostname -i)"\n${tries(10, '0.2')}\nip=$(nslookup allowed.kubiya.test | awk '/^Address/ {a=$2} END {print a}')\necho "allowed.kubiya.test is $ip"`,
            ],
            resources: RESOURCES,
          },
        ],
      },
      1,
      180_000,
    );
    const [a, b] = await Promise.all([granted, dnsOnly]);
    const logA = stepLog(a, 'work');
    const logB = stepLog(b, 'work');
    assert.match(logA, /: REACHED$/m, `A's grant works (else B's refusal means nothing): ${logA}`);
    assert.ok(logB.includes(`allowed.kubiya.test is ${NODE.ip}`), `B resolves through the cluster DNS: ${logB}`);
    assert.equal((logB.match(/: blocked$/gm) ?? []).length, 10, logB);
    assert.doesNotMatch(logB, /REACHED/, logB);
    const addressB = /my address: (\S+)/.exec(logB)?.[1];
    assert.ok(addressB !== undefined && addressB !== '', logB);
    assert.ok(!reached.includes(addressB), `the server never saw B (${addressB}): ${reached.join(', ')}`);
  });
});
