import { Watch, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';

/** An ERROR event's object: a metav1.Status (code 410 "Gone" when the resourceVersion is too old). */
interface WatchStatus {
  readonly kind?: string;
  readonly code?: number;
}

/**
 * A watch that does not miss events: when the API server (or the connection) ends it, it resumes
 * from the last resourceVersion it saw, so every change in between is still delivered. Tests
 * that assert "no pod ever had two uids" depend on seeing every ADDED event.
 *
 * When that resourceVersion has left the API server's watch cache (an ERROR event with a Status of
 * code 410, "too old resource version"; https://kubernetes.io/docs/reference/using-api/api-concepts/#410-gone-responses),
 * it starts over without one: the API server then sends ADDED for everything that exists, then the
 * changes. (Resuming from the same stale version would loop on 410 and never see an event again,
 * which is what a bench run after a 75 s idle watch showed.) ERROR events are never passed on. A
 * restart that fails is tried again every 100 ms until stop().
 */
export async function watchAll<T extends KubernetesObject>(
  kc: KubeConfig,
  path: string,
  labelSelector: string,
  onEvent: (type: string, obj: T) => void,
): Promise<{ stop: () => void; restarts: () => number }> {
  let stopped = false;
  let restarts = 0;
  let resourceVersion: string | undefined;
  let req: AbortController | undefined;
  const start = async (): Promise<void> => {
    req = await new Watch(kc).watch(
      path,
      { labelSelector, allowWatchBookmarks: true, ...(resourceVersion !== undefined ? { resourceVersion } : {}) },
      (type: string, obj: T) => {
        if (type === 'ERROR') {
          if ((obj as WatchStatus).code === 410) resourceVersion = undefined;
          return;
        }
        resourceVersion = obj.metadata?.resourceVersion ?? resourceVersion;
        if (type !== 'BOOKMARK') onEvent(type, obj);
      },
      () => {
        if (!stopped) restart();
      },
    );
  };
  const restart = (): void => {
    restarts++;
    setTimeout(() => {
      if (stopped) return;
      start().catch(() => {
        // A refused watch (e.g. 410 on connect): start over from the current state, and keep trying.
        resourceVersion = undefined;
        restart();
      });
    }, 100);
  };
  await start();
  return {
    stop: () => {
      stopped = true;
      req?.abort();
    },
    restarts: () => restarts,
  };
}
