import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { CoreV1Api, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { STEP_IMAGE } from '../../src/dev/node/catalogue.ts';
import { NODE } from '../../src/dev/node/configs.ts';
import { GATE_LABEL } from '../../src/dev/node/objects.ts';
import { realNodeCluster, realNodeSkip, type RealNodeEnv } from '../support/real-node.ts';
import { startRealRunner, stepLog, type RealRunner } from '../support/real-runner.ts';

const skip = realNodeSkip();
/** Pods per phase: enough to see the window every time before, and to make "never" meaningful after. */
const N = 4;
const PORT = 18082;

/**
 * The enforcer programs a pod's rules about a second after the pod has an IP, so a step that
 * connects at once used to get out. The class: any connection from the step's first process
 * before its NetworkPolicy is in force. Every step here connects to a forbidden host address in a
 * loop from its first instruction on (time 0 = the step's shell start, /proc/uptime centiseconds).
 * Before (gate off) the window is measured and must exist (so the test can fail); after (gate on)
 * no connection of any of the N steps may reach the forbidden server, counted on the server side.
 */
describe('real node: the egress window at step start, before and after the gate', { skip }, () => {
  let rn: RealNodeEnv;
  let runner: RealRunner;
  let srv: Server;
  const reached: string[] = [];
  before(async () => {
    rn = await realNodeCluster();
    srv = createServer((req, res) => {
      reached.push(req.socket.remoteAddress ?? '?');
      res.end('forbidden-REACHED\n');
    });
    await new Promise<void>((resolve) => srv.listen(PORT, NODE.canaryIp, resolve));
    runner = await startRealRunner(rn.env, { name: 'window-runner' });
  });
  after(async () => {
    await runner?.close();
    srv?.close();
    const left = await rn?.close();
    assert.deepEqual(left ?? [], [], 'down restored the host');
  });

  const gate = async (on: boolean): Promise<void> => {
    const core = rn.env.kc.makeApiClient(CoreV1Api);
    await core.patchNamespace(
      {
        name: rn.env.cluster.workflowsNamespace,
        body: { metadata: { labels: { [GATE_LABEL]: on ? 'enabled' : null } } },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
  };

  const SCRIPT = `t0=$(cut -d' ' -f1 /proc/uptime | tr -d .)
i=0
while [ $i -lt 60 ]; do
  now=$(cut -d' ' -f1 /proc/uptime | tr -d .)
  if printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 1 ${NODE.canaryIp} ${String(PORT)} 2>/dev/null | grep -q REACHED; then
    echo "reached at $(( (now - t0) * 10 )) ms"
  else
    echo "blocked at $(( (now - t0) * 10 )) ms"
  fi
  i=$((i + 1))
  sleep 0.05
done`;

  const phase = async (label: string): Promise<{ leaked: number; windowMs: number[]; serverSide: number }> => {
    reached.length = 0;
    const runs = await Promise.all(
      Array.from({ length: N }, (_, i) =>
        runner.run(
          {
            id: `${label}-${String(i)}`,
            steps: [
              {
                name: 'connect',
                image: STEP_IMAGE,
                command: ['sh', '-c', SCRIPT],
                resources: { requests: { cpu: '20m', memory: '16Mi' }, limits: { memory: '32Mi' } },
              },
            ],
          },
          1,
          180_000,
        ),
      ),
    );
    const windowMs: number[] = [];
    let leaked = 0;
    for (const events of runs) {
      const log = stepLog(events, 'connect');
      assert.match(
        log,
        /at \d+ ms/,
        `the step ran and logged: ${JSON.stringify(events.filter((e) => e.phase !== 'Log'))}`,
      );
      const last = [...log.matchAll(/reached at (\d+) ms/g)].map((m) => Number(m[1]));
      if (last.length > 0) leaked++;
      windowMs.push(last.length > 0 ? Math.max(...last) : 0);
    }
    console.log(
      `egress window ${label}: ${String(leaked)}/${String(N)} steps reached the forbidden address; last reach per step (ms after start): ${windowMs.join(', ')}; server counted ${String(reached.length)} connection(s)`,
    );
    return { leaked, windowMs, serverSide: reached.length };
  };

  test(`before: without the gate, steps that connect at once get out (measured over ${String(N)} steps)`, async () => {
    await gate(false);
    const r = await phase('before');
    assert.ok(r.leaked > 0 && r.serverSide > 0, 'the window exists without the gate (else this test could not fail)');
  });

  test(`after: with the gate, none of ${String(N)} steps reaches the forbidden address, not even at time 0`, async () => {
    await gate(true);
    const r = await phase('after');
    assert.equal(r.leaked, 0);
    assert.equal(r.serverSide, 0, 'the forbidden server saw no connection');
  });
});
