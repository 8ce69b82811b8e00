import { ListWatch, type KubeConfig, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
import { StallWatch } from './api-watch.ts';
import { apiOptionsOf } from './kubeconfig.ts';
import { SYSTEM_TIMERS } from './watchdog.ts';
import { describeThrown } from '../errors/result.ts';

/** What one followed kind is: its name in metrics, its collection path, its list call and selector. */
export interface FollowedKind<T extends KubernetesObject> {
  /** Bounded label for metrics and logs: `pods`, `workflowruns`. */
  readonly kind: string;
  /** The collection's API path, e.g. `/api/v1/namespaces/ns/pods`. */
  readonly path: string;
  readonly list: () => Promise<KubernetesListObject<T>>;
  readonly labelSelector: string;
}

const FIRST_PAUSE_MS = 500;
const LAST_PAUSE_MS = 30_000;

/**
 * One informer (list + watch) of one kind, filtered by the runner label, with the start/stop and
 * change listeners every adapter that follows a kind needs. The watch asks for bookmarks and a
 * server-side timeout, is ended when it stalls and on a bounded relist period (StallWatch, config
 * `kubernetes.api`). client-node does not restart an informer after an error; this does, after a
 * pause that doubles from 0.5 s up to 30 s while errors repeat (reset by a list or an event).
 */
export abstract class Followed<T extends KubernetesObject> {
  protected readonly informer: ListWatch<T>;
  protected readonly listeners: ((name: string, ended?: boolean) => void)[] = [];
  private started: Promise<void> | undefined;
  private stopped = false;
  private listedAt = SYSTEM_TIMERS.now();
  private pauseMs = FIRST_PAUSE_MS;

  protected constructor(kc: KubeConfig, followed: FollowedKind<T>) {
    const api = apiOptionsOf(kc);
    const list = async (): Promise<KubernetesListObject<T>> => {
      const listed = await followed.list();
      this.listedAt = SYSTEM_TIMERS.now();
      this.pauseMs = FIRST_PAUSE_MS;
      return listed;
    };
    const watch = new StallWatch(
      kc,
      followed.kind,
      api,
      () => this.listedAt,
      () => (this.pauseMs = FIRST_PAUSE_MS),
    );
    this.informer = new ListWatch<T>(followed.path, watch, list, false, followed.labelSelector);
    this.informer.on('error', (err: unknown) => {
      if (this.stopped) return;
      api.observer.watchRestarted(followed.kind, 'error', describeThrown(err));
      const pause = this.pauseMs;
      this.pauseMs = Math.min(LAST_PAUSE_MS, pause * 2);
      setTimeout(() => {
        if (!this.stopped) void this.informer.start().catch(() => undefined);
      }, pause).unref();
    });
  }

  start(): Promise<void> {
    this.started ??= this.informer.start();
    return this.started;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.informer.stop();
  }

  /** Called with a run's name whenever something about it changes (`ended`: see Pods.onChange). */
  onChange(listener: (name: string, ended?: boolean) => void): void {
    this.listeners.push(listener);
  }
}
