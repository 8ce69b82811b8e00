/**
 * The bare row of the peers scenario (issue 20 §1): @kubernetes/client-node createNamespacedPod of
 * the step pod hardened in the client by the runner's own mutation (src/mutate/restricted.ts), so
 * it creates the very pod body the runner would: the floor of "a pod per step" on this API server.
 * It has no policy of its own (only the namespace's PodSecurity), so it is exempt from the parity
 * check; the harness reports its answers without judging them.
 */
import { ApiException, CoreV1Api } from '@kubernetes/client-node';
import type { PeerRow } from './peer.ts';
import { hardened } from './step.ts';

/**
 * A request refused by the API server as an Error with the Status message: "denied: ..." for 403
 * Forbidden (admission) and 422 Invalid (the object as admission left it); other errors as they are.
 */
export function admissionError(e: unknown): Error {
  if (!(e instanceof ApiException)) return e instanceof Error ? e : new Error(String(e));
  const body: unknown = typeof e.body === 'string' ? safeJson(e.body) : e.body;
  const message = (body as { message?: unknown } | undefined)?.message;
  const text = typeof message === 'string' ? message : String(e.body).slice(0, 400);
  return new Error(e.code === 403 || e.code === 422 ? `denied: ${e.code} ${text}` : `API ${e.code}: ${text}`);
}

function safeJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return undefined;
  }
}

/** The bare client-node row. */
export function bareRow(): PeerRow {
  let core: CoreV1Api | undefined;
  let namespace = '';
  return {
    name: 'bare client-node create (runner-hardened pod)',
    skipReason: () => Promise.resolve(undefined),
    start(env) {
      core = env.kubeConfig.makeApiClient(CoreV1Api);
      namespace = env.namespace;
      return Promise.resolve();
    },
    async submit(step) {
      if (core === undefined) throw new Error('the bare row is not started');
      const pod = hardened(step.pod);
      try {
        await core.createNamespacedPod({ namespace, body: pod });
      } catch (e) {
        throw admissionError(e);
      }
      return { podName: pod.metadata?.name ?? '' };
    },
    terminalRecordAt: () => Promise.resolve(undefined),
    async reset() {
      await core?.deleteCollectionNamespacedPod({ namespace, gracePeriodSeconds: 0 });
    },
    pids: () => [],
    stop: () => Promise.resolve(),
    lacks: ['policy (images, tags, resources)', 'token verification', 'audit record', 'per-step egress policy'],
  };
}
