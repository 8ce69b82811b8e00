/**
 * `serve`'s run-time check that the API server enforces PodSecurity `restricted` on the workflows
 * namespace (red team 11's recommendation; the probe and the classification of its answer are
 * src/adapters/kube-pod-security.ts). The runner's safety story relies on it: a container that a
 * mutating webhook adds beside the decided ones is judged by the API server's restricted check (and
 * by STEP_POD_ALTERED's escalation list only); a label removed or weakened after install would
 * otherwise go unnoticed (fail open).
 *
 * When: a first probe before the runner is ready, then every `interval` while enforced, and every
 * `retry` (at most `interval`) while not, so that a transient answer (a timeout: unknown) or a
 * label put back is seen within seconds. While the last verdict is not `enforced`: /ready fails
 * with its code, and no step pod is created (gate): the runs wait, as they do for the runner's DNS
 * policy (EGRESS_BASELINE_UNCONFIRMED), because the cause is the namespace, not the step, and is
 * fixed by an operator (or by itself: a timeout), never by failing work. Each change of state is
 * reported once (`changed`: an error log line and one audit record), never each probe.
 */
import type { PodSecurityVerdict } from '../adapters/kube-pod-security.ts';
import type { PodSecurityRefusal } from '../errors/waits.ts';
import type { RunnerError } from '../errors/result.ts';

/** The state a verdict puts the gate in: its kind, and for `enforced` the level the API server named. */
export type PodSecurityState = { readonly kind: 'unprobed' } | { readonly kind: 'off' } | PodSecurityVerdict;

/** How often the namespace is probed (ms). */
export interface PodSecurityTiming {
  /** While enforced: `runner.security.podSecurityCheck.interval`. */
  readonly intervalMs: number;
  /** While not enforced or unknown (at most intervalMs). */
  readonly retryMs: number;
}

/** The code a state refuses step pods with; undefined for a state that does not refuse them. */
export function refusalCode(state: PodSecurityState): PodSecurityRefusal | undefined {
  switch (state.kind) {
    case 'enforced':
    case 'off':
      return undefined;
    case 'not-enforced':
      return 'POD_SECURITY_NOT_ENFORCED';
    case 'unknown':
    case 'unprobed':
      return 'POD_SECURITY_UNKNOWN';
  }
}

/** The state as a RunnerError (its code and a message an operator acts on); undefined when step pods may be created. */
export function refusalOf(state: PodSecurityState, namespace: string): RunnerError | undefined {
  const code = refusalCode(state);
  if (code === undefined) return undefined;
  const why = 'detail' in state ? state.detail : 'not probed yet';
  const message =
    code === 'POD_SECURITY_NOT_ENFORCED'
      ? `the workflows namespace ${namespace} does not enforce PodSecurity restricted (${why}); no step pod is created until it does (kubectl label namespace ${namespace} pod-security.kubernetes.io/enforce=restricted)`
      : `whether the workflows namespace ${namespace} enforces PodSecurity restricted cannot be told (${why}); no step pod is created until it can`;
  return { code, message };
}

/**
 * The gate: the last verdict, a periodic probe, and one `changed` call per change of state kind
 * (the first verdict is a change only when it is not `enforced`: an enforced namespace is what the
 * install expects, and says nothing new).
 */
export class PodSecurityWatch {
  private current: PodSecurityState = { kind: 'unprobed' };
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Probes started, and the number of the latest one whose verdict was taken (red team 12, finding 4). */
  private started = 0;
  private taken = 0;

  private readonly probe: () => Promise<PodSecurityVerdict>;
  private readonly timing: PodSecurityTiming;
  private readonly changed: (previous: PodSecurityState, next: PodSecurityState) => void;

  /** `probe` asks the API server (never rejects: a rejection is taken as unknown); `changed` is told each change of state. */
  constructor(
    probe: () => Promise<PodSecurityVerdict>,
    timing: PodSecurityTiming,
    changed: (previous: PodSecurityState, next: PodSecurityState) => void,
  ) {
    this.probe = probe;
    this.timing = timing;
    this.changed = changed;
  }

  /** The state now. */
  state(): PodSecurityState {
    return this.current;
  }

  /**
   * Probes once and takes its verdict (reporting a change of kind); resolves with it. Never rejects.
   * Probes that overlap (the timer's and a refresh) are taken in the order they were started: a
   * verdict that settles after a later-started probe's was taken is dropped (it describes the
   * namespace as it was before), and the state is what the later one said.
   */
  async probeOnce(): Promise<PodSecurityState> {
    const number = ++this.started;
    const verdict = await this.probe().catch((e: unknown): PodSecurityVerdict => ({
      kind: 'unknown',
      detail: `the probe failed: ${e instanceof Error ? e.message : String(e)}`,
    }));
    if (this.stopped) return verdict;
    if (number < this.taken) return this.current;
    this.taken = number;
    const previous = this.current;
    this.current = verdict;
    const first = previous.kind === 'unprobed';
    if (first ? verdict.kind !== 'enforced' : previous.kind !== verdict.kind) this.changed(previous, verdict);
    return verdict;
  }

  /** The first probe (awaited), then the next ones on a timer that does not keep the process alive. */
  async start(): Promise<void> {
    await this.probeOnce();
    this.schedule();
  }

  /** No further probe; a probe in flight is not taken. */
  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
  }

  private schedule(): void {
    if (this.stopped) return;
    const delay = this.current.kind === 'enforced' ? this.timing.intervalMs : this.timing.retryMs;
    this.timer = setTimeout(() => void this.probeOnce().then(() => this.schedule()), delay);
    this.timer.unref();
  }
}
