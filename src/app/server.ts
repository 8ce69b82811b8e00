import { randomUUID } from 'node:crypto';
import { access, constants, readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { VersionApi } from '@kubernetes/client-node';
import { loadKubeConfig } from '../adapters/kubeconfig.ts';
import { ConfigMapTrustedKeys, trustedKeysName } from '../adapters/trusted-keys-configmap.ts';
import type { Logger } from 'pino';
import { FileAuditLog } from '../adapters/audit-file.ts';
import { AuditShipper } from '../adapters/audit-ship.ts';
import { checkpointSigningKey } from '../audit/keys.ts';
import { createHttpServer, type ReadyReport } from '../adapters/http-server.ts';
import { KubePodLogs } from '../adapters/kube-pod-logs.ts';
import { KubePods } from '../adapters/kube-pods.ts';
import { KubeStepObjects } from '../adapters/kube-step-objects.ts';
import { KubeRunStore } from '../adapters/kube-runs.ts';
import { LeaseElector } from '../adapters/lease.ts';
import { PolicyStore } from '../adapters/policy-store.ts';
import { ControlPlaneClient, eventOf } from '../adapters/control-plane-client.ts';
import type { Config } from '../config/schema.ts';
import type { Metrics } from '../observe/metrics.ts';
import { fail } from '../errors/result.ts';
import { admit } from '../admission/admit.ts';
import { cancelRun } from '../admission/cancel.ts';
import type { AdmittedRun } from '../run/admitted.ts';
import type { PipelineDeps } from '../pipeline/deps.ts';
import { Reconciler } from '../reconcile/reconciler.ts';
import { pipelineObserver } from './observer.ts';
import { apiOptions, loadKeys, timed } from './parts.ts';

export const RUNNER_VERSION = '0.1.0';

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
 * A fatal start-up error with its code: `serve` prints `<code>: <message>` and exits 2. Thrown
 * only before anything has started (no Lease, no reconcile, no audit record, no control-plane
 * call); what was opened is closed again first.
 */
export class StartupError extends Error {
  override readonly name = 'StartupError';
  readonly code: 'STARTUP_FAILED' | 'AUDIT_LOCKED';
  constructor(code: 'STARTUP_FAILED' | 'AUDIT_LOCKED', message: string) {
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
    throw new StartupError(
      (e as { code?: unknown } | null)?.code === 'AUDIT_LOCKED' ? 'AUDIT_LOCKED' : 'STARTUP_FAILED',
      e instanceof Error ? e.message : String(e),
    );
  }
}

async function start(ctx: ServerContext, undo: (() => unknown)[]): Promise<RunningServer> {
  const { config, log, metrics } = ctx;
  // Phase 1: load and claim; nothing acts yet.
  const kc = loadKubeConfig(config.kubernetes.kubeconfig, apiOptions(config, log, metrics));

  const leaseName = config.kubernetes.leaseName ?? `kubiya-runner-${config.runner.name}`;
  const trust = new ConfigMapTrustedKeys(kc, {
    name: trustedKeysName(leaseName),
    namespace: config.kubernetes.namespace,
  });
  const { keys, loaded: keysLoaded, stop: stopKeys } = await loadKeys(config, log, trust);
  undo.push(stopKeys);
  const policies = new PolicyStore(
    config.policy.bundle,
    {
      loaded: (revision) => {
        metrics.policyLoaded(revision);
        log.info({ revision }, 'policy bundle loaded');
      },
      rejected: (reason) => {
        metrics.policyReloadFailed();
        log.error(
          { code: 'POLICY_RELOAD_REJECTED', reason, revision: policies.current()?.revision },
          'policy bundle refused; the last good one stays in force',
        );
      },
    },
    config.policy.data,
  );
  await policies.load();
  undo.push(() => policies.close());
  const signing =
    config.audit.checkpoint.signingKeyFile !== undefined
      ? checkpointSigningKey(await readFile(config.audit.checkpoint.signingKeyFile, 'utf8'))
      : undefined;
  if (signing === undefined)
    log.warn(
      { code: 'AUDIT_CHECKPOINTS_OFF' },
      'no audit.checkpoint.signingKeyFile: the audit log is hash-chained but not checkpointed (truncation of its tail is not detectable)',
    );
  const token =
    config.runner.token ??
    (config.runner.tokenFile !== undefined ? (await readFile(config.runner.tokenFile, 'utf8')).trim() : undefined);
  if (config.controlPlane.url !== undefined && token === undefined)
    throw new Error(
      'controlPlane.url is set but there is no runner token (runner.token, runner.tokenFile or RUNNER_TOKEN)',
    );
  // One writer per audit chain: the lock is taken here, or start-up fails with AUDIT_LOCKED.
  const audit = await FileAuditLog.open(config.audit.dir, {
    segmentBytes: config.audit.segmentBytes,
    checkpoint:
      signing === undefined
        ? undefined
        : { ...signing, every: config.audit.checkpoint.every, intervalMs: config.audit.checkpoint.interval * 1000 },
  });
  undo.push(() => audit.abandon());
  audit.onBatch = (seconds, queued) => metrics.auditBatch(seconds, queued);
  const shipUrl = config.audit.ship.url;
  const shipper =
    shipUrl === undefined
      ? undefined
      : new AuditShipper(config.audit.dir, {
          url: shipUrl,
          batch: config.audit.ship.batch,
          pollMs: config.audit.ship.interval * 1000,
          timeoutMs: 10_000,
          backoff: { initialMs: 1000, maxMs: 60_000 },
          onError: (message) =>
            log.warn(
              { code: 'AUDIT_SHIP_FAILED', reason: message },
              'audit shipping failed; retrying (the write-ahead log is not affected)',
            ),
        });
  const pods = new KubePods(kc, config.runner.workflow.namespace, config.runner.name);
  const runs = new KubeRunStore(kc, config.runner.workflow.namespace, config.runner.name);
  const lease = new LeaseElector(kc, {
    name: leaseName,
    namespace: config.kubernetes.namespace,
    identity: ctx.identity,
    durationSeconds: config.kubernetes.leaseDuration,
    renewEverySeconds: Math.max(1, Math.floor(config.kubernetes.leaseDuration / 3)),
  });
  /** Phase 2 has run: until then intake answers NOT_READY and /ready says so. */
  let started = false;

  const sec = config.runner.security;
  const deps: PipelineDeps = {
    config: Object.freeze({
      runner: config.runner.name,
      namespace: config.runner.workflow.namespace,
      serviceAccount: config.runner.workflow.serviceAccount,
      defaultTimeoutSeconds: config.runner.workflow.defaultTimeout,
      maxConcurrent: config.runner.workflow.maxConcurrent,
      failFastGraceSeconds: config.runner.workflow.failFastGrace,
      ttlAfterFinishedSeconds: config.runner.workflow.ttlAfterFinished,
      egressMode: config.egress.mode,
      dnsNamespace: config.egress.dnsNamespace,
      storageClass: config.runner.storage.storageClass,
      workspaceSize: config.runner.storage.workspaceSize,
      defaultResources: config.runner.workflow.defaultResources,
      receive: { maxTokenBytes: config.controlPlane.maxTokenBytes },
      verify: {
        algorithms: config.controlPlane.algorithms,
        issuer: config.controlPlane.issuer,
        audience: config.runner.name,
        maxTokenAgeSeconds: config.controlPlane.maxTokenAge,
        clockToleranceSeconds: config.controlPlane.clockTolerance,
      },
      profile: {
        runAsUser: sec.runAsUser,
        runAsGroup: sec.runAsUser,
        fsGroup: sec.runAsUser,
        allowNetBindService: sec.allowNetBindService,
        readOnlyRootFilesystem: sec.readOnlyRootFilesystem,
      },
    }),
    keys,
    trust,
    policy: () => policies.current(),
    audit,
    pods: timed(pods, metrics),
    objects: new KubeStepObjects(kc, config.runner.workflow.namespace, config.runner.name, config.egress.mode),
    logs: new KubePodLogs(kc, config.runner.workflow.namespace),
    runs,
    now: () => new Date(),
    newId: randomUUID,
  };

  let client: ControlPlaneClient | undefined;
  const base = pipelineObserver(log, metrics);
  const observed: PipelineDeps = {
    ...deps,
    observer: {
      ...base,
      recorded: (record, context) => {
        base.recorded(record, context);
        const event = client === undefined ? undefined : eventOf(record, config.runner.name);
        if (event !== undefined && client?.enqueue(event) === false)
          log.error(
            { code: 'CONTROL_PLANE_EVENTS_FULL', decision_id: record.decision_id },
            'control-plane event queue is full; intake pauses until events are acknowledged',
          );
      },
      stepLog: (l) => {
        // The id is fixed per run, step and chunk: a chunk sent again after a crash is de-duplicated.
        const event = {
          id: `log:${l.run}:${l.step}:${l.chunk}`,
          runner: config.runner.name,
          workflow: l.workflow.id,
          runId: l.workflow.runId,
          step: l.step,
          phase: 'Log' as const,
          log: l.text,
          chunk: l.chunk,
          ...(l.truncated ? { truncated: true } : {}),
          time: new Date().toISOString(),
        };
        if (client?.enqueue(event) === false)
          log.error(
            { code: 'CONTROL_PLANE_EVENTS_FULL', workflow_id: l.workflow.id, step_name: l.step },
            'control-plane event queue is full; a log chunk was not queued',
          );
      },
    },
  };

  const inflight = new Set<Promise<unknown>>();
  let draining = false;
  const track = <T>(p: Promise<T>): Promise<T> => {
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
    return p;
  };

  const version = kc.makeApiClient(VersionApi);
  let apiCheck: { at: number; ok: boolean; detail?: string } = { at: 0, ok: false };
  const apiServerReachable = async (): Promise<{ ok: boolean; detail?: string }> => {
    if (Date.now() - apiCheck.at < 1000) return apiCheck;
    const result = await Promise.race([
      version.getCode().then(
        () => ({ ok: true }),
        (e: unknown) => ({ ok: false, detail: e instanceof Error ? e.message.slice(0, 200) : 'unreachable' }),
      ),
      sleep(2000).then(() => ({ ok: false, detail: 'no answer within 2 s' })),
    ]);
    apiCheck = { at: Date.now(), ...result };
    return result;
  };
  const ready = async (): Promise<ReadyReport> => {
    const writable = await access(config.audit.dir, constants.W_OK).then(
      () => true,
      () => false,
    );
    const role = lease.role();
    const checks = {
      apiServer: await apiServerReachable(),
      keys: { ok: keysLoaded() },
      policy: { ok: policies.current() !== undefined, detail: policies.current()?.revision ?? 'none' },
      audit: {
        ok: writable && audit.healthy && audit.locked,
        ...(audit.locked ? {} : { detail: 'AUDIT_LOCKED: this runner no longer holds the audit directory lock' }),
      },
      lease: { ok: role !== 'unknown', detail: role },
      draining: { ok: !draining },
      started: { ok: started },
    };
    return { ready: Object.values(checks).every((c) => c.ok), checks };
  };

  // Every replica admits; only the Lease holder reconciles (DESIGN §1).
  const reconciler = new Reconciler(observed, {
    isLeader: () => lease.role() === 'leader' && !draining,
    workers: 64,
    resyncMs: 30_000,
  });
  const startRun = (run: AdmittedRun): void => {
    log.info(
      { workflow_id: run.ref.id, run: run.name, namespace: config.runner.workflow.namespace },
      'Assignment accepted',
    );
    reconciler.enqueue(run.name);
  };
  // Runs beyond maxConcurrent wait as Pending WorkflowRuns; intake pushes back past ten times that.
  const backlog = (): number =>
    runs.list().filter((r) => r.status === undefined || r.status.phase === 'Pending' || r.status.phase === 'Running')
      .length;
  const hasCapacity = (): boolean =>
    backlog() < config.runner.workflow.maxConcurrent * 10 && (client?.hasRoom() ?? true);
  const server = createHttpServer({
    admit: (raw) =>
      started ? track(admit(raw, observed)) : Promise.resolve(fail('NOT_READY', 'the runner is starting')),
    cancel: (raw) =>
      started ? track(cancelRun(raw, observed)) : Promise.resolve(fail('NOT_READY', 'the runner is starting')),
    start: startRun,
    hasCapacity,
    draining: () => draining,
    ready,
    metrics: async () => {
      metrics.sampleProcess();
      return { contentType: metrics.registry.contentType, body: await metrics.registry.metrics() };
    },
    observed: (route, status) => metrics.httpRequest(route, status),
    maxBodyBytes: config.controlPlane.maxTokenBytes,
    requestTimeoutMs: config.server.requestTimeout * 1000,
  });
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
  const port = (server.address() as AddressInfo).port;
  // The first list of runs and pods (read only); an API server that cannot be listed fails start-up.
  undo.push(
    () => pods.stop(),
    () => runs.stop(),
  );
  await Promise.all([pods.start(), runs.start()]);

  // Phase 2: start what acts.
  policies.watch();
  shipper?.start();
  lease.start();
  reconciler.start();
  started = true;
  if (config.controlPlane.url !== undefined && token !== undefined) {
    client = new ControlPlaneClient(
      {
        url: config.controlPlane.url,
        runner: config.runner.name,
        token,
        version: RUNNER_VERSION,
        capabilities: {
          maxConcurrent: config.runner.workflow.maxConcurrent,
          namespaces: [config.runner.workflow.namespace],
          gpu: true,
          podSecurityStandard: 'restricted',
        },
        pollWaitSeconds: 20,
        heartbeatMs: 10_000,
        backoff: { initialMs: 500, maxMs: 30_000 },
        requestTimeoutMs: 10_000,
        eventBatch: 100,
        eventQueueMax: 10_000,
        onError: (operation, message) => {
          metrics.controlPlaneError(operation);
          log.warn(
            { code: 'CONTROL_PLANE_UNAVAILABLE', operation, reason: message },
            'control plane call failed; retrying with backoff',
          );
        },
      },
      async (assignment) => {
        const run = await track(admit({ body: assignment, contentType: 'application/jwt' }, observed));
        if (run.ok) startRun(run.value);
      },
      () => !draining && hasCapacity(),
      async (cancellation) => {
        const cancelled = await track(cancelRun({ body: cancellation, contentType: 'application/jwt' }, observed));
        if (cancelled.ok) log.info({ run: cancelled.value.run }, 'Run cancelled by the control plane');
      },
    );
    client.start();
  }
  log.info(
    {
      port,
      revision: policies.current()?.revision,
      namespace: config.runner.workflow.namespace,
      lease_holder: lease.holder,
    },
    'runner listening',
  );

  return {
    port,
    shutdown: async (reason) => {
      draining = true;
      log.info({ reason, inflight: inflight.size }, 'shutting down: intake stopped, finishing in-flight work');
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const graceMs = config.server.shutdownGrace * 1000;
      const finished = await Promise.race([
        Promise.allSettled([...inflight, reconciler.stop()]).then(() => true),
        sleep(graceMs).then(() => false),
      ]);
      const unfinished = finished ? 0 : inflight.size;
      const undelivered = client === undefined ? 0 : await client.stop(5000);
      if (undelivered > 0) log.warn({ undelivered }, 'control-plane events not acknowledged before exit');
      if (!finished)
        log.warn({ unfinished }, 'grace period over with work still running; its pods keep running in the cluster');
      server.closeAllConnections();
      await closed;
      policies.close();
      stopKeys();
      await lease.release();
      await pods.stop();
      await runs.stop();
      await audit.close();
      await shipper?.stop();
      log.info({ unfinished }, 'runner stopped');
      return { unfinished };
    },
  };
}
