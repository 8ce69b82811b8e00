/**
 * The harness's own watch of a row's namespace (issue 20 §1): when the API server announced each
 * pod (ADDED, performance.now() ms: the submit → pod latency) and when it announced the pod
 * Succeeded (Date.now() ms: compared with the row's terminal record), and the pod as first seen
 * (for the parity check's securityContext). Every wait is bounded.
 */
import type { KubeConfig, V1Pod } from '@kubernetes/client-node';
import { resilientWatch } from './watch.ts';

export interface PodWatch {
  /** performance.now() at the pod's first event; rejects after `timeoutMs`. */
  added(name: string, timeoutMs: number): Promise<number>;
  /** Date.now() at the event announcing the pod Succeeded; rejects after `timeoutMs` (or if it failed). */
  succeeded(name: string, timeoutMs: number): Promise<number>;
  /** The pod as its first event showed it (undefined: not seen). */
  firstSeen(name: string): V1Pod | undefined;
  /** How many pods of the namespace the watch has seen. */
  count(): number;
  /** How many times the watch was re-established after the API server or the connection ended it. */
  restarts(): number;
  stop(): void;
}

type Waiters = Map<string, ((t: number | Error) => void)[]>;

function wait(
  seen: Map<string, number>,
  waiters: Waiters,
  name: string,
  timeoutMs: number,
  what: string,
): Promise<number> {
  const t = seen.get(name);
  if (t !== undefined) return Promise.resolve(t);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => settle(new Error(`pod ${name}: not ${what} within ${timeoutMs} ms`)), timeoutMs);
    const settle = (v: number | Error): void => {
      clearTimeout(timer);
      if (v instanceof Error) reject(v);
      else resolve(v);
    };
    waiters.set(name, [...(waiters.get(name) ?? []), settle]);
  });
}

function wake(waiters: Waiters, name: string, v: number | Error): void {
  for (const w of waiters.get(name) ?? []) w(v);
  waiters.delete(name);
}

/** Starts the watch of every pod in `namespace` and resolves once it is established. */
export async function watchPods(kc: KubeConfig, namespace: string): Promise<PodWatch> {
  const added = new Map<string, number>();
  const succeeded = new Map<string, number>();
  const first = new Map<string, V1Pod>();
  const addedWaiters: Waiters = new Map();
  const doneWaiters: Waiters = new Map();
  const w = await resilientWatch<V1Pod>(kc, `/api/v1/namespaces/${namespace}/pods`, (type, pod) => {
    const now = performance.now();
    const name = pod.metadata?.name ?? '';
    if (!added.has(name)) {
      added.set(name, now);
      first.set(name, pod);
      wake(addedWaiters, name, now);
    }
    if (type === 'DELETED' || succeeded.has(name)) return;
    if (pod.status?.phase === 'Succeeded') {
      const t = Date.now();
      succeeded.set(name, t);
      wake(doneWaiters, name, t);
    } else if (pod.status?.phase === 'Failed') wake(doneWaiters, name, new Error(`pod ${name} Failed`));
  });
  return {
    added: (name, timeoutMs) => wait(added, addedWaiters, name, timeoutMs, 'announced'),
    succeeded: (name, timeoutMs) => wait(succeeded, doneWaiters, name, timeoutMs, 'Succeeded'),
    firstSeen: (name) => first.get(name),
    count: () => added.size,
    restarts: () => w.restarts(),
    stop: () => w.stop(),
  };
}
