/**
 * `node bench/peers/run.ts --watch-check` (about 2.5 min): the regression check for the lead's full
 * peers run of 2026-11-30, where argo-tuned's Workflows were "not Succeeded after 120000 ms" right
 * after argo-defaults' round. Cause, reproduced here on a real API server: client-node's Watch ends
 * a stream after 30 s without data, so an idle row's watch keeps resuming from its last
 * resourceVersion; once another namespace's burst of the same resource pushed that version out of
 * the watch cache (older than its 75 s fresh window), the API server answers every resume with an
 * ERROR event "410 too old resource version". test/support/watch.ts's watchAll then ignored that
 * event and resumed from the same version every 100 ms, blind for good (fixed since: it starts over
 * without a version on a 410); bench/peers/watch.ts lists again. Both must now see the object.
 * The check: both watches on an idle namespace, 80 s idle, 1,200 writes elsewhere, 35 s, then one
 * new object in the idle namespace, which the bench's watch must deliver. The old one is reported.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api, type KubernetesObject } from '@kubernetes/client-node';
import { watchAll } from '../../test/support/watch.ts';
import { startControlPlane } from './control-plane.ts';
import { resilientWatch } from './watch.ts';

/** Runs the check on its own control plane; resolves with 0 when the bench's watch saw the object, else 1. */
export async function watchCheck(log: (s: string) => void): Promise<number> {
  const cp = await startControlPlane(log);
  try {
    const core = cp.kc.makeApiClient(CoreV1Api);
    for (const ns of ['idle', 'busy']) await core.createNamespace({ body: { metadata: { name: ns } } });
    const seen = { old: new Set<string>(), bench: new Set<string>() };
    let expired = 0;
    const path = '/api/v1/namespaces/idle/configmaps';
    const old = await watchAll<KubernetesObject>(cp.kc, path, 'x=y', (type, o) => {
      if (type === 'ERROR') expired++;
      else seen.old.add(o.metadata?.name ?? '');
    });
    const bench = await resilientWatch<KubernetesObject>(
      cp.kc,
      path,
      (_t, o) => seen.bench.add(o.metadata?.name ?? ''),
      'x=y',
    );
    const put = (namespace: string, name: string, labels?: Record<string, string>): Promise<unknown> =>
      core.createNamespacedConfigMap({ namespace, body: { metadata: { name, ...(labels ? { labels } : {}) } } });
    await put('idle', 'first', { x: 'y' });
    log('  watch-check: 80 s idle, then 1,200 writes in another namespace, then 35 s');
    await sleep(80_000);
    for (let k = 0; k < 60; k++) await Promise.all(Array.from({ length: 20 }, (_, j) => put('busy', `c${k}-${j}`)));
    await sleep(35_000);
    await put('idle', 'second', { x: 'y' });
    await sleep(5000);
    log(
      `  test/support watchAll: saw the new object ${seen.old.has('second')}, 410 ERROR events ${expired}, restarts ${old.restarts()}`,
    );
    log(`  bench/peers resilientWatch: saw the new object ${seen.bench.has('second')}, restarts ${bench.restarts()}`);
    old.stop();
    bench.stop();
    return seen.bench.has('second') ? 0 : 1;
  } finally {
    await cp.cluster.stop();
  }
}
