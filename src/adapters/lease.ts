import { randomBytes } from 'node:crypto';
import { ApiException, CoordinationV1Api, V1MicroTime, type KubeConfig, type V1Lease } from '@kubernetes/client-node';

export type LeaseRole = 'leader' | 'follower' | 'unknown';

export interface LeaseOptions {
  readonly name: string;
  readonly namespace: string;
  /** The replica's identity (the pod name); the holder identity adds a per-process suffix. */
  readonly identity: string;
  readonly durationSeconds: number;
  readonly renewEverySeconds: number;
}

/**
 * Leader election over a coordination.k8s.io Lease, as client-go's leaderelection does it:
 * take the Lease when it is free or expired, renew it while held, and release it (empty holder,
 * 1 s duration) on shutdown so the next replica takes over at once. Optimistic concurrency
 * (resourceVersion) makes two replicas never both believe they lead.
 *
 * The holder identity is unique per process: the replica's identity plus a random suffix
 * (`runner-0_1a2b3c4d5e`), as client-go does (hostname + "_" + UUID). Two processes given the
 * same identity (a copied manifest, two runners on one host with one HOSTNAME) would otherwise
 * both see "the Lease is mine" and both lead. A restarted process is a new holder: it takes the
 * Lease when the old one released it or when it expires.
 */
export class LeaseElector {
  private readonly api: CoordinationV1Api;
  private readonly o: LeaseOptions;
  /** This process's holder identity as written in the Lease. */
  readonly holder: string;
  private current: LeaseRole = 'unknown';
  /**
   * When this process stops counting itself leader unless a renewal succeeded since, in
   * performance.now() ms: the start of the last successful acquire/renew + 2/3 of the lease duration
   * (client-go's renewDeadline < leaseDuration). Other replicas take the Lease only after the full
   * duration, so a renewal that hangs (a silent API connection) can never leave two leaders.
   * Monotonic: on the wall clock, a step back kept a holder whose renewals failed "leader" for as
   * long as the step (red team 20, finding 4's class).
   */
  private leaderUntil = -Infinity;
  /**
   * The Lease's record as last read (resourceVersion, holder, renewTime, duration) and when this
   * process first saw it so, in performance.now() ms: client-go's observedRecord/observedTime. The
   * Lease of another holder is expired when its record has not changed for its duration *as this
   * process observed it* — never by comparing the holder's renewTime (its wall clock) with ours, so
   * neither clock skew between replicas nor a step of either clock lets a replica take a Lease early.
   */
  private observed: { readonly record: string; readonly at: number } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(kc: KubeConfig, options: LeaseOptions) {
    this.api = kc.makeApiClient(CoordinationV1Api);
    this.o = options;
    this.holder = `${options.identity}_${randomBytes(5).toString('hex')}`;
  }

  /** This process's role now; `leader` lapses on its own once the renew deadline passes (see leaderUntil). */
  role(now = performance.now()): LeaseRole {
    if (this.current === 'leader' && now >= this.leaderUntil) return 'unknown';
    return this.current;
  }

  start(): void {
    const tick = (): void => {
      if (this.stopped) return;
      const attempt = performance.now();
      this.tryAcquireOrRenew(new Date())
        .then((role) => {
          this.current = role;
          if (role === 'leader') this.leaderUntil = attempt + (this.o.durationSeconds * 1000 * 2) / 3;
        })
        .catch(() => (this.current = 'unknown'))
        .finally(() => {
          if (!this.stopped) this.timer = setTimeout(tick, this.o.renewEverySeconds * 1000);
        });
    };
    tick();
  }

  /** Lease times are MicroTime (6 fractional digits); client-node's V1MicroTime serialises them so. */
  private spec(now: Date, acquired: Date | undefined): V1Lease['spec'] {
    return {
      holderIdentity: this.holder,
      leaseDurationSeconds: this.o.durationSeconds,
      acquireTime: new V1MicroTime(acquired ?? now),
      renewTime: new V1MicroTime(now),
    };
  }

  async tryAcquireOrRenew(now = new Date()): Promise<LeaseRole> {
    const { name, namespace } = this.o;
    let lease: V1Lease;
    try {
      lease = await this.api.readNamespacedLease({ name, namespace });
    } catch (e) {
      if (!(e instanceof ApiException && e.code === 404)) throw e;
      try {
        await this.api.createNamespacedLease({
          namespace,
          body: { metadata: { name, namespace }, spec: this.spec(now, undefined) },
        });
        return 'leader';
      } catch (c) {
        if (c instanceof ApiException && c.code === 409) return 'follower';
        throw c;
      }
    }
    const spec = lease.spec ?? {};
    const expired = this.unchangedFor(lease) > (spec.leaseDurationSeconds ?? 0) * 1000;
    const mine = spec.holderIdentity === this.holder;
    const free = spec.holderIdentity === undefined || spec.holderIdentity === '';
    if (!mine && !free && !expired) return 'follower';
    try {
      await this.api.replaceNamespacedLease({
        name,
        namespace,
        body: { ...lease, spec: this.spec(now, mine ? spec.acquireTime : undefined) },
      });
      return 'leader';
    } catch (e) {
      if (e instanceof ApiException && e.code === 409) return 'follower';
      throw e;
    }
  }

  /**
   * How long the Lease's record has been as `lease` shows it, in ms, as this process observed it
   * (0 when it changed since the last read, or on the first read: a new process waits a whole
   * duration before it takes a Lease another holder left, as client-go does).
   */
  private unchangedFor(lease: V1Lease): number {
    const spec = lease.spec ?? {};
    const renew = spec.renewTime === undefined ? '' : new Date(spec.renewTime).toISOString();
    const record = JSON.stringify([
      lease.metadata?.resourceVersion ?? '',
      spec.holderIdentity ?? '',
      renew,
      spec.leaseDurationSeconds ?? 0,
    ]);
    const at = performance.now();
    if (this.observed?.record !== record) this.observed = { record, at };
    return at - this.observed.at;
  }

  /** Stops renewing and, if we hold the Lease, hands it over. */
  async release(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.current !== 'leader') return;
    const { name, namespace } = this.o;
    try {
      const lease = await this.api.readNamespacedLease({ name, namespace });
      if (lease.spec?.holderIdentity !== this.holder) return;
      const { acquireTime } = lease.spec;
      await this.api.replaceNamespacedLease({
        name,
        namespace,
        body: {
          ...lease,
          spec: {
            ...lease.spec,
            holderIdentity: '',
            leaseDurationSeconds: 1,
            acquireTime: acquireTime && new V1MicroTime(acquireTime),
            renewTime: new V1MicroTime(),
          },
        },
      });
    } catch {
      // the Lease expires by itself
    }
    this.current = 'unknown';
  }
}
