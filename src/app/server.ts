/**
 * `serve`: the composition root's parts (compose.ts) plus what only a deployed runner has — the
 * Lease, HTTP intake and probes, the control-plane client, bundle hot reload, audit shipping — in
 * two phases of named steps (serve-*.ts, control-plane-link.ts), and the graceful shutdown.
 */
import type { Server } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { LeaseElector } from '../adapters/lease.ts';
import type { Config } from '../config/schema.ts';
import type { Metrics } from '../observe/metrics.ts';
import type { Reconciler } from '../reconcile/reconciler.ts';
import { openParts, type RunnerParts } from './compose.ts';
import { runnerToken, startPulling, type ControlPlaneLink } from './control-plane-link.ts';
import { Intake } from './intake.ts';
import type { PodSecurityGate } from './pod-security-gate.ts';
import { readiness, type ServerState } from './readiness.ts';
import { servedDeps } from './serve-deps.ts';
import { firstReadyLogged, serveHttp } from './serve-http.ts';
import { leaderReconciler, replicaLease } from './serve-leader.ts';
import { refusalSummaryTimer, type RefusalSummaries } from './serve-refusals.ts';
import { startupError } from './startup-error.ts';
import { markStartup } from './startup-marks.ts';

/** What `serve` starts with: the parsed config, its logger and metrics, and this replica's identity. */
export interface ServerContext {
  readonly config: Config;
  readonly log: Logger;
  readonly metrics: Metrics;
  /** This replica's identity for the Lease (the pod name in a cluster). */
  readonly identity: string;
}

/** A started `serve`: the port it listens on (the bound one when `server.port` is 0) and its shutdown. */
export interface RunningServer {
  readonly port: number;
  /** Stop intake, finish in-flight work within the grace period, flush the audit log, hand the Lease over. */
  shutdown(reason: string): Promise<{ unfinished: number }>;
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
    throw startupError(e);
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
  readonly refusalSummaries: RefusalSummaries;
}

async function start(ctx: ServerContext, undo: (() => unknown)[]): Promise<RunningServer> {
  const { config, log, metrics } = ctx;
  // Phase 1: load and claim; nothing acts yet.
  const parts = await openParts(config, log, metrics, undo);
  const token = await runnerToken(config);
  const lease = replicaLease(parts, config, ctx.identity);
  const state: ServerState = { started: false, draining: false };
  const link: ControlPlaneLink = {};
  const { podSecurity, deps } = servedDeps(config, log, metrics, parts, link, undo);
  const reconciler = leaderReconciler(deps, lease, state);
  const intake = new Intake(deps, reconciler, state, link, log);
  const ready = firstReadyLogged(readiness(parts, config.audit.dir, lease, state, podSecurity), log);
  const { server, port } = await serveHttp(config, metrics, intake, ready, state, undo);
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
  startPulling(
    link,
    config,
    token,
    {
      intake: (a) => intake.pulled(a),
      cancel: (c) => intake.pulledCancel(c),
      // No new work pulled while step pods could not be created (the PodSecurity gate).
      canAccept: () => !state.draining && intake.hasCapacity() && podSecurity.check().ok,
    },
    log,
    metrics,
  );
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
  await r.refusalSummaries.stop();
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
