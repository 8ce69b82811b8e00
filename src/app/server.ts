/**
 * `serve`: the composition root's parts (compose.ts) plus what only a deployed runner has — the
 * Lease, HTTP intake and probes, the control-plane client, bundle hot reload, audit shipping — in
 * two phases, and the graceful shutdown.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { createHttpServer, type ReadyReport } from '../adapters/http-server.ts';
import { LeaseElector } from '../adapters/lease.ts';
import type { Config } from '../config/schema.ts';
import type { Metrics } from '../observe/metrics.ts';
import type { PipelineDeps } from '../pipeline/deps.ts';
import { Reconciler } from '../reconcile/reconciler.ts';
import { openParts, type RunnerParts } from './compose.ts';
import { controlPlaneClient, forwardingObserver, runnerToken, type ControlPlaneLink } from './control-plane-link.ts';
import { Intake } from './intake.ts';
import { pipelineObserver } from './observer.ts';
import { podSecurityGate, quietGateProblems, type PodSecurityGate } from './pod-security-gate.ts';
import { readiness, type ServerState } from './readiness.ts';
import { clearStartupMarks, cpuMs, markStartup, startupMarks } from './startup-marks.ts';

export interface ServerContext {
  readonly config: Config;
  readonly log: Logger;
  readonly metrics: Metrics;
  /** This replica's identity for the Lease (the pod name in a cluster). */
  readonly identity: string;
}

export interface RunningServer {
  readonly port: number;
  /** Stop intake, finish in-flight work within the grace period, flush the audit log, hand the Lease over. */
  shutdown(reason: string): Promise<{ unfinished: number }>;
}

/**
 * The codes `serve` exits with at start: STARTUP_FAILED, or a more precise one a part threw
 * (AUDIT_LOCKED: another writer holds the audit directory; AUDIT_RESUME_REFUSED: its last
 * checkpoint or the records after it cannot be vouched for; POLICY_SETTINGS_UNSIGNED: a settings
 * overlay beside verification keys; POLICY_KEY_PRIVATE: a private key among the verification keys).
 */
export type StartupCode =
  'STARTUP_FAILED' | 'AUDIT_LOCKED' | 'AUDIT_RESUME_REFUSED' | 'POLICY_SETTINGS_UNSIGNED' | 'POLICY_KEY_PRIVATE';
const PRECISE_STARTUP_CODES: ReadonlySet<unknown> = new Set([
  'AUDIT_LOCKED',
  'AUDIT_RESUME_REFUSED',
  'POLICY_SETTINGS_UNSIGNED',
  'POLICY_KEY_PRIVATE',
]);

/**
 * A fatal start-up error with its code: `serve` prints `<code>: <message>` and exits 2. Thrown
 * only before anything has started (no Lease, no reconcile, no audit record, no control-plane
 * call); what was opened is closed again first.
 */
export class StartupError extends Error {
  override readonly name = 'StartupError';
  readonly code: StartupCode;
  constructor(code: StartupCode, message: string) {
    super(message);
    this.code = code;
  }
}

/**
 * Starts `serve` in two phases. Phase 1 loads and claims everything that can fail (kubeconfig,
 * keys, policy bundle, checkpoint key, runner token, the audit directory's lock, the listening
 * port, the first list of runs and pods); any failure undoes what was done and throws a
 * StartupError, before anything acts. Phase 2 starts what acts (Lease election, reconciler,
 * shipping, the control-plane client, bundle hot reload); intake answers NOT_READY until then.
 */
export async function startServer(ctx: ServerContext): Promise<RunningServer> {
  const undo: (() => unknown)[] = [];
  try {
    return await start(ctx, undo);
  } catch (e) {
    for (const step of undo.reverse())
      await Promise.resolve()
        .then(step)
        .catch(() => undefined);
    if (e instanceof StartupError) throw e;
    const given = (e as { code?: unknown } | null)?.code;
    const code: StartupCode = PRECISE_STARTUP_CODES.has(given) ? (given as StartupCode) : 'STARTUP_FAILED';
    const message = e instanceof Error ? e.message : String(e);
    // serve prints "<code>: <message>": a message that already starts with its code says it once.
    throw new StartupError(code, message.startsWith(`${code}: `) ? message.slice(code.length + 2) : message);
  }
}

/** Everything `serve` runs, for the shutdown. */
interface Running {
  readonly ctx: ServerContext;
  readonly parts: RunnerParts;
  readonly state: ServerState;
  readonly server: Server;
  readonly intake: Intake;
  readonly reconciler: Reconciler;
  readonly lease: LeaseElector;
  readonly link: ControlPlaneLink;
  readonly podSecurity: PodSecurityGate;
  /** The timer that writes the refusal budget's summaries (Intake.flushRefusals). */
  readonly refusalSummaries: NodeJS.Timeout;
}

/** How often `serve` looks whether the refusal budget's window has ended (ms); windows are 10 s or more. */
const REFUSAL_FLUSH_MS = 2000;

async function start(ctx: ServerContext, undo: (() => unknown)[]): Promise<RunningServer> {
  const { config, log, metrics } = ctx;
  // Phase 1: load and claim; nothing acts yet.
  const parts = await openParts(config, log, metrics, undo);
  const token = await runnerToken(config);
  const lease = new LeaseElector(parts.kc, {
    name: parts.leaseName,
    namespace: config.kubernetes.namespace,
    identity: ctx.identity,
    durationSeconds: config.kubernetes.leaseDuration,
    renewEverySeconds: Math.max(1, Math.floor(config.kubernetes.leaseDuration / 3)),
  });
  const state: ServerState = { started: false, draining: false };
  const link: ControlPlaneLink = {};
  // The workflows namespace must enforce PodSecurity restricted: probed before ready and then
  // periodically; step pods are gated on it (pod-security-gate.ts).
  const podSecurity = podSecurityGate(config, parts.kc, log);
  undo.push(() => podSecurity.stop());
  const deps: PipelineDeps = podSecurity.gated({
    ...parts.deps,
    observer: forwardingObserver(quietGateProblems(pipelineObserver(log, metrics)), link, config.runner.name, log),
  });
  // Every replica admits; only the Lease holder reconciles (DESIGN §1).
  const reconciler = new Reconciler(deps, {
    isLeader: () => lease.role() === 'leader' && !state.draining,
    workers: 64,
    resyncMs: 30_000,
  });
  const intake = new Intake(deps, reconciler, state, link, log);
  const server = httpServer(
    ctx,
    intake,
    firstReadyLogged(readiness(parts, config.audit.dir, lease, state, podSecurity), log),
    state,
  );
  const port = await listen(server, config, undo);
  markStartup('listen');
  // The first list of runs and pods (read only; asked for by openParts, whose undo stops them),
  // and the first PodSecurity probe (a dry run: nothing is stored) at the same time.
  await Promise.all([parts.pods.start(), parts.runs.start(), podSecurity.start(deps)]);
  markStartup('synced');

  // Phase 2: start what acts.
  parts.policies.watch();
  parts.shipper?.start();
  lease.start();
  reconciler.start();
  const refusalSummaries = refusalSummaryTimer(intake);
  state.started = true;
  markStartup('started');
  if (config.controlPlane.url !== undefined && token !== undefined) {
    link.client = controlPlaneClient(
      config,
      token,
      config.controlPlane.url,
      {
        intake: (a) => intake.pulled(a),
        cancel: (c) => intake.pulledCancel(c),
        // No new work pulled while step pods could not be created (the PodSecurity gate).
        canAccept: () => !state.draining && intake.hasCapacity() && podSecurity.check().ok,
      },
      log,
      metrics,
    );
    link.client.start();
  }
  log.info(
    {
      port,
      revision: parts.policies.current()?.revision,
      namespace: config.runner.workflow.namespace,
      lease_holder: lease.holder,
    },
    'runner listening',
  );
  const running: Running = {
    ctx,
    parts,
    state,
    server,
    intake,
    reconciler,
    lease,
    link,
    podSecurity,
    refusalSummaries,
  };
  return { port, shutdown: (reason) => shutdown(running, reason) };
}

/** The refusal budget's summaries, written once their window ends even when no refusal follows (unref'd). */
function refusalSummaryTimer(intake: Intake): NodeJS.Timeout {
  const timer = setInterval(() => void intake.flushRefusals(), REFUSAL_FLUSH_MS);
  timer.unref();
  return timer;
}

/**
 * The readiness report, logging `runner ready` once, at the first report that is ready: ms since
 * the process started (`ready_ms`), its CPU ms by then (`ready_cpu_ms`), and when each start-up
 * step ended (`startup_ms`, `startup_cpu_ms`: startup-marks.ts).
 */
function firstReadyLogged(ready: () => Promise<ReadyReport>, log: Logger): () => Promise<ReadyReport> {
  let logged = false;
  return async () => {
    const report = await ready();
    if (report.ready && !logged) {
      logged = true;
      const marks = startupMarks();
      log.info(
        {
          ready_ms: Math.round(performance.now()),
          ready_cpu_ms: cpuMs(),
          startup_ms: marks.wall,
          startup_cpu_ms: marks.cpu,
        },
        'runner ready',
      );
      clearStartupMarks();
    }
    return report;
  };
}

/** The HTTP intake, probes and /metrics. */
function httpServer(
  ctx: ServerContext,
  intake: Intake,
  ready: () => Promise<ReadyReport>,
  state: Readonly<ServerState>,
): Server {
  const { config, metrics } = ctx;
  return createHttpServer({
    admit: (raw) => intake.admit(raw, 'push'),
    cancel: (raw) => intake.cancel(raw, 'push'),
    start: (run) => intake.start(run),
    hasCapacity: () => intake.hasCapacity(),
    draining: () => state.draining,
    ready,
    metrics: async () => {
      metrics.sampleProcess();
      metrics.readiness((await ready()).checks);
      return { contentType: metrics.registry.contentType, body: await metrics.registry.metrics() };
    },
    observed: (route, status) => metrics.httpRequest(route, status),
    maxBodyBytes: config.controlPlane.maxTokenBytes,
    requestTimeoutMs: config.server.requestTimeout * 1000,
    maxConnections: config.server.maxConnections,
    connectionRefused: () => metrics.httpConnectionRefused(),
  });
}

/** Listens on `server.host:server.port` (a port in use fails start-up); resolves with the bound port. */
async function listen(server: Server, config: Config, undo: (() => unknown)[]): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(new Error(`cannot listen on ${config.server.host}:${config.server.port}: ${e.code ?? e.message}`)),
    );
    server.listen(config.server.port, config.server.host, () => resolve());
  });
  undo.push(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
  return (server.address() as AddressInfo).port;
}

/**
 * Stops intake, waits for in-flight work and the reconciler up to `server.shutdownGrace`, flushes
 * the control-plane events (5 s), then closes everything and hands the Lease over.
 */
async function shutdown(r: Running, reason: string): Promise<{ unfinished: number }> {
  const { config, log } = r.ctx;
  const { parts, server, intake } = r;
  r.state.draining = true;
  log.info({ reason, inflight: intake.inflight.size }, 'shutting down: intake stopped, finishing in-flight work');
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const finished = await Promise.race([
    Promise.allSettled([...intake.inflight, r.reconciler.stop()]).then(() => true),
    sleep(config.server.shutdownGrace * 1000).then(() => false),
  ]);
  const unfinished = finished ? 0 : intake.inflight.size;
  const undelivered = r.link.client === undefined ? 0 : await r.link.client.stop(5000);
  if (undelivered > 0) log.warn({ undelivered }, 'control-plane events not acknowledged before exit');
  if (!finished)
    log.warn({ unfinished }, 'grace period over with work still running; its pods keep running in the cluster');
  server.closeAllConnections();
  await closed;
  // Every refusal counted but not recorded one by one goes into a durable summary before the log closes.
  clearInterval(r.refusalSummaries);
  await intake.flushRefusals(true);
  r.podSecurity.stop();
  parts.policies.close();
  parts.stopKeys();
  await r.lease.release();
  await parts.pods.stop();
  await parts.runs.stop();
  await parts.audit.close();
  await parts.shipper?.stop();
  log.info({ unfinished }, 'runner stopped');
  return { unfinished };
}
