/**
 * The PodSecurity check wired into `serve` (pod-security.ts is the watch; the probe is
 * src/adapters/kube-pod-security.ts): /ready's `podSecurity` check, the gate on step pods, and the
 * report of each change of state — one log line (error for a refusal, info for the recovery) and
 * one audit record (stage `create`: it gates pod creation; its code is the refusal's). With
 * `runner.security.podSecurityCheck.enabled: false` nothing is probed: the check passes with a
 * detail saying it is off, and a POD_SECURITY_CHECK_OFF warning is logged at start.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { probePodSecurity } from '../adapters/kube-pod-security.ts';
import type { Config } from '../config/schema.ts';
import { POD_SECURITY_REFUSALS } from '../errors/waits.ts';
import { fail } from '../errors/result.ts';
import { auditor } from '../pipeline/auditor.ts';
import type { PipelineDeps, PipelineObserver } from '../pipeline/deps.ts';
import { PodSecurityWatch, refusalOf, type PodSecurityState } from './pod-security.ts';

/** How soon a namespace that is not enforcing (or an unknown answer) is probed again (ms), at most the interval. */
const RETRY_MS = 5000;

/** What `serve` uses of the check. */
export interface PodSecurityGate {
  /** /ready's check: ok only while enforced (or off), the detail names the level or the code and why. */
  check(): { ok: boolean; detail: string };
  /**
   * `deps` with step pods gated: the precondition every step start passes (`objects.ensureStepDns`,
   * src/reconcile/reconcile.ts: a refusal there makes the runs wait, looked at again every 5 s) and
   * `pods.create` itself refuse while the state is not enforced, before any API call. A step that
   * passed the precondition just before the state changed waits too: its create is refused with
   * the code, which src/errors/waits.ts lists, so it stays Pending and a later pass starts it.
   */
  gated(deps: PipelineDeps): PipelineDeps;
  /** The first probe (awaited; never rejects), then the periodic ones. */
  start(deps: PipelineDeps): Promise<void>;
  /** Probes now, outside the timer (what the timer does; for tests and a future admin call). Never rejects. */
  refresh(): Promise<void>;
  stop(): void;
}

/** The gate for `config`'s workflows namespace, probing with `kc` (the runner's own credentials). */
export function podSecurityGate(config: Config, kc: KubeConfig, log: Logger): PodSecurityGate {
  const { namespace, serviceAccount } = config.runner.workflow;
  const settings = config.runner.security.podSecurityCheck;
  if (!settings.enabled) return offGate(log);
  let audited: PipelineDeps | undefined;
  const report = (previous: PodSecurityState, next: PodSecurityState): void => {
    const refusal = refusalOf(next, namespace);
    const level = 'level' in next ? next.level : 'restricted';
    const recovered = `the workflows namespace ${namespace} enforces PodSecurity ${level} again: step pods are created`;
    if (refusal === undefined) log.info({ namespace, pod_security: level, previous: previous.kind }, recovered);
    else log.error({ code: refusal.code, namespace, previous: previous.kind }, refusal.message);
    const deps = audited;
    if (deps === undefined) return;
    // Recorded without the observer: its line for a `create` record reads "Starting step
    // execution", and this change has its line above.
    const audit = auditor({ ...deps, observer: undefined });
    const written = refusal === undefined ? audit.passed('create', recovered) : audit.errored('create', refusal);
    written.catch((e: unknown) =>
      log.error(
        { code: 'AUDIT_UNAVAILABLE', namespace, reason: e instanceof Error ? e.message : String(e) },
        'the PodSecurity change of state above could not be recorded in the audit log',
      ),
    );
  };
  const watch = new PodSecurityWatch(
    () => probePodSecurity(kc, { namespace, runner: config.runner.name, serviceAccount }),
    { intervalMs: settings.interval * 1000, retryMs: Math.min(RETRY_MS, settings.interval * 1000) },
    report,
  );
  const refusal = () => refusalOf(watch.state(), namespace);
  return {
    check: () => {
      const state = watch.state();
      const refused = refusal();
      if (refused === undefined) return { ok: true, detail: 'level' in state ? state.level : 'restricted' };
      return { ok: false, detail: `${refused.code}: ${'detail' in state ? state.detail : 'not probed yet'}` };
    },
    gated: (deps) => gatedDeps(deps, refusal),
    start: async (deps) => {
      audited = deps;
      const first = await watch.start().then(() => watch.state());
      if (first.kind === 'enforced')
        log.info({ namespace, pod_security: first.level }, 'the workflows namespace enforces PodSecurity restricted');
    },
    refresh: () => watch.probeOnce().then(() => undefined),
    stop: () => watch.stop(),
  };
}

/** The check switched off: passes, says so; a warning at start. */
function offGate(log: Logger): PodSecurityGate {
  const detail = 'not checked (runner.security.podSecurityCheck.enabled: false)';
  return {
    check: () => ({ ok: true, detail }),
    gated: (deps) => deps,
    start: () => {
      log.warn(
        { code: 'POD_SECURITY_CHECK_OFF' },
        'runner.security.podSecurityCheck.enabled is false: the runner does not verify that the workflows namespace enforces PodSecurity restricted (containers that admission adds to step pods are then judged by STEP_POD_ALTERED only, unless the cluster enforces restricted by other means)',
      );
      return Promise.resolve();
    },
    refresh: () => Promise.resolve(),
    stop: () => undefined,
  };
}

/** The gate's codes: the one list (src/errors/waits.ts), which `refusalCode`'s type is bound to. */
const GATE_CODES: ReadonlySet<string> = new Set<string>(POD_SECURITY_REFUSALS);

/**
 * `deps` whose step-pod precondition (`objects.ensureStepDns`) and pod creation (`pods.create`)
 * refuse with `refusal()`'s code and message, before any API call, whenever it returns one (asked
 * at each call); every other port is passed through. Exported for tests, which script `refusal`.
 */
export function gatedDeps(deps: PipelineDeps, refusal: () => ReturnType<typeof refusalOf>): PipelineDeps {
  const { objects, pods } = deps;
  return {
    ...deps,
    objects: {
      createVolumeClaims: (claims) => objects.createVolumeClaims(claims),
      createEgress: (policy) => objects.createEgress(policy),
      ensureStepDns: async (policy) => {
        const refused = refusal();
        return refused === undefined ? objects.ensureStepDns(policy) : fail(refused.code, refused.message);
      },
      owned: (runId) => objects.owned(runId),
      deleteObjects: (list) => objects.deleteObjects(list),
    },
    pods: {
      create: async (pod) => {
        const refused = refusal();
        return refused === undefined ? pods.create(pod) : fail(refused.code, refused.message);
      },
      get: (name) => pods.get(name),
      getWhole: (name) => pods.getWhole(name),
      cached: (name) => pods.cached(name),
      delete: (name) => pods.delete(name),
      onChange: (listener) => pods.onChange(listener),
    },
  };
}

/**
 * `observer` whose `problem` does not log the gate's codes: the reconcile pass reports its
 * precondition's refusal each pass (every 5 s per waiting run), while a change of state is
 * reported once. For a plain observer (pipelineObserver's: no getters, so spread is exact).
 */
export function quietGateProblems(observer: PipelineObserver): PipelineObserver {
  return {
    ...observer,
    problem: (error) => {
      if (!GATE_CODES.has(error.code)) observer.problem?.(error);
    },
  };
}
