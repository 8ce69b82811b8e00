import type { Informer, KubernetesObject, ObjectCache } from '@kubernetes/client-node';

/**
 * One informer (list + watch) of one kind, filtered by the runner label, with the start/stop and
 * change listeners every adapter that follows a kind needs. client-node does not restart an
 * informer after an error; this does, after a short pause.
 */
export abstract class Followed<T extends KubernetesObject> {
  protected readonly informer: Informer<T> & ObjectCache<T>;
  protected readonly listeners: ((name: string) => void)[] = [];
  private started: Promise<void> | undefined;

  protected constructor(informer: Informer<T> & ObjectCache<T>) {
    this.informer = informer;
    this.informer.on('error', () => {
      setTimeout(() => void this.informer.start().catch(() => undefined), 500).unref();
    });
  }

  start(): Promise<void> {
    this.started ??= this.informer.start();
    return this.started;
  }

  async stop(): Promise<void> {
    await this.informer.stop();
  }

  /** Called with a run's name whenever something about it changes. */
  onChange(listener: (name: string) => void): void {
    this.listeners.push(listener);
  }
}
