/**
 * Red team 10, finding 3: /ready's `watches` check (Followed.health) counts a kind as followed
 * when its watch delivered an event or ended cleanly (StallWatch's `delivered`). An ERROR event —
 * a Status in the stream (a 500, a CRD's failing conversion, a 403 after a watch began) — counted,
 * and so did the clean end after it; client-node then watches again from the same resourceVersion
 * (no 'error', no list), up to 30 s later: every failing watch renewed the check, and /ready stayed
 * green while no watch worked (up to the periodic relist, 5 minutes by default).
 *
 * The class, against a loopback API server twin (real HTTP): a watch whose stream carries an ERROR
 * event, before or after other events, is not "heard" by its end or by the ERROR; a quiet watch
 * ended cleanly and a watch with a bookmark are (the examples the check was built on).
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { StallWatch } from '../../src/adapters/api-watch.ts';
import { DEFAULT_API_OPTIONS, PooledKubeConfig } from '../../src/adapters/kubeconfig.ts';
import { loopbackKubeConfig } from '../support/api-stand-in.ts';

const status = (code: number, reason: string) => ({
  type: 'ERROR',
  object: { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason, code },
});
const bookmark = {
  type: 'BOOKMARK',
  object: { kind: 'WorkflowRun', apiVersion: 'kubiya.ai/v1alpha1', metadata: { resourceVersion: '9' } },
};

/** The stream a watch answers, and how many `delivered` calls it must make (events heard + a clean end). */
const STREAMS: [string, unknown[], number][] = [
  ['a quiet watch ended at timeoutSeconds', [], 1],
  ['a bookmark, then the end', [bookmark], 2],
  ['an ERROR 500 (InternalError)', [status(500, 'InternalError')], 0],
  ['an ERROR 403 (Forbidden)', [status(403, 'Forbidden')], 0],
  ['an ERROR 401 (Unauthorized)', [status(401, 'Unauthorized')], 0],
  ['an ERROR 410 (Gone: the informer lists again)', [status(410, 'Gone')], 0],
  ['a bookmark, then an ERROR 500', [bookmark, status(500, 'InternalError')], 1],
];

describe('RED-TEAM-10 #3: an ERROR event in a watch is no sign of being followed', () => {
  let stream: unknown[] = [];
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(stream.map((e) => JSON.stringify(e) + '\n').join(''));
  });
  let kc: PooledKubeConfig;
  before(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    kc = loopbackKubeConfig(port, new PooledKubeConfig({ ...DEFAULT_API_OPTIONS }));
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });

  for (const [what, events, heard] of STREAMS)
    test(`${what}: delivered ${String(heard)} time(s)`, async () => {
      stream = events;
      let delivered = 0;
      const watch = new StallWatch(
        kc,
        'workflowruns',
        DEFAULT_API_OPTIONS,
        () => Date.now(),
        () => delivered++,
      );
      const ended = new Promise<unknown>((resolve) => {
        void watch.watch('/apis/kubiya.ai/v1alpha1/namespaces/ns/workflowruns', {}, () => undefined, resolve);
      });
      const err = await ended;
      assert.equal(err ?? null, null, 'the stream ends cleanly');
      assert.equal(delivered, heard);
    });
});
