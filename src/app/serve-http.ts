/**
 * `serve`'s HTTP step: intake, the probes and /metrics on `server.host:server.port`, and the
 * readiness report that logs `runner ready` once.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { createHttpServer, type ReadyReport } from '../adapters/http-server.ts';
import type { Config } from '../config/schema.ts';
import type { Metrics } from '../observe/metrics.ts';
import type { Intake } from './intake.ts';
import type { ServerState } from './readiness.ts';
import { clearStartupMarks, cpuMs, startupMarks } from './startup-marks.ts';

/**
 * The HTTP server of `intake` (push admissions and cancellations), `/ready` (answered by `ready`)
 * and `/metrics`, listening. Rejects, naming the address, when it cannot listen (a port in use
 * fails start-up); once listening, `undo` gets its close. Resolves with the server and the bound port.
 */
export async function serveHttp(
  config: Config,
  metrics: Metrics,
  intake: Intake,
  ready: () => Promise<ReadyReport>,
  state: Readonly<ServerState>,
  undo: (() => unknown)[],
): Promise<{ server: Server; port: number }> {
  const server = httpServer(config, metrics, intake, ready, state);
  return { server, port: await listen(server, config, undo) };
}

/**
 * The readiness report, logging `runner ready` once, at the first report that is ready: ms since
 * the process started (`ready_ms`), its CPU ms by then (`ready_cpu_ms`), and when each start-up
 * step ended (`startup_ms`, `startup_cpu_ms`: startup-marks.ts).
 */
export function firstReadyLogged(ready: () => Promise<ReadyReport>, log: Logger): () => Promise<ReadyReport> {
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
  config: Config,
  metrics: Metrics,
  intake: Intake,
  ready: () => Promise<ReadyReport>,
  state: Readonly<ServerState>,
): Server {
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
