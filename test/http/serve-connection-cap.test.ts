/**
 * server.maxConnections in a real `serve` process (the config key reaches the server): with 8
 * idle connections held, every further one is closed unread at once, the process's file
 * descriptors do not grow with them (50 refused), /healthz answers again once one held connection
 * closes, the refusals are on /metrics, and once everything is closed the process is back to the
 * descriptors it had. The API server is the loopback stand-in (test/support/api-stand-in.ts).
 */
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { getAlone, openConnection, type Held } from '../support/connections.ts';
import { startServe } from '../support/serve-process.ts';
import { serveWork, type ServeWork } from '../support/serve-work.ts';
import { waitFor } from '../support/wait.ts';

const CAP = 8;
const REFUSED = 50;
/** Descriptors the process may open or close meanwhile on its own (a watch resumed, a log file). */
const SLACK = 3;

let w: ServeWork;

before(async () => {
  w = await serveWork('kubiya-serve-cap-');
});
after(() => w.close());

test(`serve with server.maxConnections ${CAP}: the excess is refused, no descriptor is kept, /healthz answers again`, async () => {
  const s = await startServe(w.config({ server: { maxConnections: CAP } }), w.dir);
  const held: Held[] = [];
  try {
    const port = Number(new URL(s.base).port);
    const fds = async (): Promise<number> => (await readdir(`/proc/${String(s.child.pid)}/fd`)).length;
    const first = await getAlone(port, '/healthz');
    assert.ok(typeof first !== 'string' && first.status === 200, JSON.stringify(first));
    // The baseline: the fewest descriptors seen over 500 ms (the /healthz connection above, or a
    // watch being resumed, may hold one for a moment).
    let fds0 = Infinity;
    for (let i = 0; i < 10; i++, await sleep(50)) fds0 = Math.min(fds0, await fds());

    for (let i = 0; i < CAP; i++) held.push(await openConnection(port, ''));
    await waitFor('the held connections accepted', async () => (await fds()) >= fds0 + CAP, 3000);
    const fdsHeld = await fds();

    const closedAfter: (number | undefined)[] = [];
    for (let i = 0; i < REFUSED; i++) {
      const h = await openConnection(port, 'GET /healthz HTTP/1.1\r\nhost: r\r\n\r\n');
      await waitFor(`refused connection ${i} closed`, () => h.closedAfterMs !== undefined, 1000).catch(() => undefined);
      closedAfter.push(h.closedAfterMs);
      assert.equal(h.received, '', 'a refused connection is not answered');
      h.socket.destroy();
    }
    assert.ok(
      closedAfter.every((ms) => ms !== undefined && ms < 1000),
      `each closed within 1 s: ${closedAfter.join(',')}`,
    );
    assert.ok((await fds()) <= fdsHeld + SLACK, `${REFUSED} refused: ${await fds()} fds, ${fdsHeld} while holding`);
    assert.ok(
      held.every((h) => h.closedAfterMs === undefined && h.received === ''),
      'the held ones stay open',
    );

    held[0]!.socket.destroy();
    let tries = 0;
    await waitFor('/healthz answers once one held connection closed', async () => {
      tries++;
      const r = await getAlone(port, '/healthz');
      return typeof r !== 'string' && r.status === 200;
    });
    const metrics = await getAlone(port, '/metrics');
    assert.ok(typeof metrics !== 'string', JSON.stringify(metrics));
    const refused = /^kubiya_http_connections_refused_total\{runner="r"\} (\d+)$/m.exec(metrics.body)?.[1];
    assert.equal(
      Number(refused),
      REFUSED + tries - 1,
      'every refusal counted (and the /healthz tries before a slot was free)',
    );

    for (const h of held) h.socket.destroy();
    await waitFor(`fds back to ${fds0} (+${SLACK})`, async () => (await fds()) <= fds0 + SLACK, 3000);
  } finally {
    for (const h of held) h.socket.destroy();
    s.child.kill('SIGTERM');
    assert.equal(await s.exited, 0, s.stderr());
  }
});
