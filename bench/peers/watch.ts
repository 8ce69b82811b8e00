/**
 * A watch that never gives up while not stopped (issue 20 §1), shared by the harness's pod watch and
 * the Argo rows' Workflow watch: when it ends (the API server's timeout, a dropped connection, an
 * error under load) it is re-established from the last resourceVersion after 100 ms … 2 s, and
 * from a fresh list (ADDED for every object) when that version is too old: the API server says so
 * with an ERROR event (410 Gone) on an open stream, not with a failed request. Another row's burst
 * of writes to the same resource (another namespace's Workflows, pods) moves the watch cache past
 * an idle watch's version, so every restart after a long idle period meets exactly that.
 */
import { Watch, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';

/** A running watch: stop() ends it for good; restarts() counts re-establishments. */
export interface ResilientWatch {
  readonly stop: () => void;
  readonly restarts: () => number;
}

/** Watches `path` (optionally filtered by `labelSelector`); resolves once the first request is established. */
export async function resilientWatch<T extends KubernetesObject>(
  kc: KubeConfig,
  path: string,
  onEvent: (type: string, obj: T) => void,
  labelSelector?: string,
): Promise<ResilientWatch> {
  let stopped = false;
  let restarts = 0;
  let failures = 0;
  let rv: string | undefined;
  let req: AbortController | undefined;
  const open = async (): Promise<void> => {
    const query = {
      allowWatchBookmarks: true,
      ...(labelSelector !== undefined ? { labelSelector } : {}),
      ...(rv !== undefined ? { resourceVersion: rv } : {}),
    };
    req = await new Watch(kc).watch(
      path,
      query,
      (type: string, obj: T) => {
        failures = 0;
        if (type === 'ERROR')
          rv = undefined; // 410 Gone: too old, list again
        else rv = obj.metadata?.resourceVersion ?? rv;
        if (type !== 'BOOKMARK' && type !== 'ERROR') onEvent(type, obj);
      },
      () => void reopen(),
    );
  };
  const reopen = async (): Promise<void> => {
    while (!stopped) {
      restarts++;
      await new Promise((r) => setTimeout(r, Math.min(2000, 100 * 2 ** Math.min(failures++, 5))));
      if (stopped) return;
      try {
        return await open();
      } catch {
        if (failures > 3) rv = undefined;
      }
    }
  };
  await open();
  return {
    stop: () => {
      stopped = true;
      req?.abort();
    },
    restarts: () => restarts,
  };
}
