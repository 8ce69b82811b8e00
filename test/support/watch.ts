import { Watch, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';

/**
 * A watch that does not miss events: when the API server (or the connection) ends it, it resumes
 * from the last resourceVersion it saw, so every change in between is still delivered. Tests
 * that assert "no pod ever had two uids" depend on seeing every ADDED event.
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
        resourceVersion = obj.metadata?.resourceVersion ?? resourceVersion;
        if (type !== 'BOOKMARK') onEvent(type, obj);
      },
      () => {
        if (stopped) return;
        restarts++;
        setTimeout(
          () =>
            void start().catch(() => {
              // "too old": start over from a fresh list (ADDED for everything that exists)
              resourceVersion = undefined;
              void start().catch(() => undefined);
            }),
          100,
        );
      },
    );
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
