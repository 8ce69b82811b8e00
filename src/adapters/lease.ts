import { ApiException, CoordinationV1Api, V1MicroTime, type KubeConfig, type V1Lease } from '@kubernetes/client-node';

export type LeaseRole = 'leader' | 'follower' | 'unknown';

export interface LeaseOptions {
  readonly name: string;
  readonly namespace: string;
  readonly identity: string;
  readonly durationSeconds: number;
  readonly renewEverySeconds: number;
}

/**
 * Leader election over a coordination.k8s.io Lease, as client-go's leaderelection does it:
 * take the Lease when it is free or expired, renew it while held, and release it (empty holder,
 * 1 s duration) on shutdown so the next replica takes over at once. Optimistic concurrency
 * (resourceVersion) makes two replicas never both believe they lead.
 */
export class LeaseElector {
  private readonly api: CoordinationV1Api;
  private readonly o: LeaseOptions;
  private current: LeaseRole = 'unknown';
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(kc: KubeConfig, options: LeaseOptions) {
    this.api = kc.makeApiClient(CoordinationV1Api);
    this.o = options;
  }

  role(): LeaseRole {
    return this.current;
  }

  start(): void {
    const tick = (): void => {
      if (this.stopped) return;
      this.tryAcquireOrRenew()
        .then((role) => (this.current = role))
        .catch(() => (this.current = 'unknown'))
        .finally(() => {
          if (!this.stopped) this.timer = setTimeout(tick, this.o.renewEverySeconds * 1000);
        });
    };
    tick();
  }

  /** Lease times are MicroTime (6 fractional digits); client-node's V1MicroTime serialises them so. */
  private spec(now: Date, acquired: Date | undefined): V1Lease['spec'] {
    return { holderIdentity: this.o.identity, leaseDurationSeconds: this.o.durationSeconds, acquireTime: new V1MicroTime(acquired ?? now), renewTime: new V1MicroTime(now) };
  }

  async tryAcquireOrRenew(now = new Date()): Promise<LeaseRole> {
    const { name, namespace, identity } = this.o;
    let lease: V1Lease;
    try {
      lease = await this.api.readNamespacedLease({ name, namespace });
    } catch (e) {
      if (!(e instanceof ApiException && e.code === 404)) throw e;
      try {
        await this.api.createNamespacedLease({ namespace, body: { metadata: { name, namespace }, spec: this.spec(now, undefined) } });
        return 'leader';
      } catch (c) {
        if (c instanceof ApiException && c.code === 409) return 'follower';
        throw c;
      }
    }
    const spec = lease.spec ?? {};
    const renewed = spec.renewTime !== undefined ? new Date(spec.renewTime).getTime() : 0;
    const expired = renewed + (spec.leaseDurationSeconds ?? 0) * 1000 < now.getTime();
    const mine = spec.holderIdentity === identity;
    const free = spec.holderIdentity === undefined || spec.holderIdentity === '';
    if (!mine && !free && !expired) return 'follower';
    try {
      await this.api.replaceNamespacedLease({ name, namespace, body: { ...lease, spec: this.spec(now, mine ? spec.acquireTime : undefined) } });
      return 'leader';
    } catch (e) {
      if (e instanceof ApiException && e.code === 409) return 'follower';
      throw e;
    }
  }

  /** Stops renewing and, if we hold the Lease, hands it over. */
  async release(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.current !== 'leader') return;
    const { name, namespace } = this.o;
    try {
      const lease = await this.api.readNamespacedLease({ name, namespace });
      if (lease.spec?.holderIdentity !== this.o.identity) return;
      const { acquireTime } = lease.spec;
      await this.api.replaceNamespacedLease({ name, namespace, body: { ...lease, spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, acquireTime: acquireTime && new V1MicroTime(acquireTime), renewTime: new V1MicroTime() } } });
    } catch {
      // the Lease expires by itself
    }
    this.current = 'unknown';
  }
}
