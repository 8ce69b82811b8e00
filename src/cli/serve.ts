import { Command } from 'commander';
import { hostname } from 'node:os';
import { startServer } from '../app/server.ts';
import { StartupError } from '../app/startup-error.ts';
import { markStartup } from '../app/startup-marks.ts';
import { loadConfig } from '../config/load.ts';
import { createLogger } from '../observe/logger.ts';
import { createMetrics } from '../observe/metrics.ts';
import { EXIT, takeOverStopSignals, type Io } from './io.ts';
import { examples } from './options.ts';
import { OPERATOR_FILE_MAX_BYTES, readOperatorText, whyUnreadable } from '../adapters/operator-file.ts';

export type Env = Readonly<Record<string, string | undefined>>;

/** What the entry point did before the CLI was loaded (bin/kubiya-runner.js); `serve` reports it. */
export interface EntryFacts {
  /**
   * V8's compile cache (bin/compile-cache.js): `env` when the environment decided, `on` in our own
   * checked directory, `off` with the reason (logged as COMPILE_CACHE_OFF).
   */
  readonly compileCache?: {
    readonly state: 'env' | 'on' | 'off';
    readonly directory: string | undefined;
    readonly reason?: string;
  };
  /** Writes what this start compiled and resolved into our own cache, soon (never on the path to /ready). */
  readonly flushCaches?: () => void;
}

export function serveCommand(io: Io, setCode: (c: number) => void, env: Env, entry: EntryFacts = {}): Command {
  return new Command('serve')
    .description('run the runner: HTTP intake on :8080, /healthz, /ready, /metrics')
    .option('--config <file>', 'YAML configuration (see docs/configuration.md); environment overrides apply on top')
    .addHelpText(
      'after',
      examples(
        'kubiya-runner serve --config /etc/kubiya/runner.yaml',
        'RUNNER_TOKEN=... KUBIYA_LOG_LEVEL=debug kubiya-runner serve --config runner.yaml',
      ) +
        '\nserve: 0 stopped cleanly after SIGTERM, 1 stopped with work unfinished after the grace period, 2 bad configuration or startup failure (nothing was started).',
    )
    .action(async (opts: { config?: string }) => {
      markStartup('modules');
      let text: string | undefined;
      if (opts.config !== undefined) {
        try {
          text = await readOperatorText(opts.config, OPERATOR_FILE_MAX_BYTES.config);
        } catch (e) {
          io.err(`CONFIG_INVALID: ${whyUnreadable(opts.config, e)}`);
          setCode(EXIT.usage);
          return;
        }
      }
      const config = loadConfig(text, env);
      if (!config.ok) {
        io.err(`${config.error.code}: ${config.error.message}`);
        setCode(EXIT.usage);
        return;
      }
      markStartup('config');
      const log = createLogger(config.value.runner.name, config.value.log.level);
      const cache = entry.compileCache;
      if (cache?.state === 'off')
        log.warn(
          { code: 'COMPILE_CACHE_OFF', directory: cache.directory, reason: cache.reason },
          'V8 compile cache not used: every start compiles all modules again',
        );
      const metrics = createMetrics(config.value.runner.name);
      let server;
      try {
        server = await startServer({
          config: config.value,
          log,
          metrics,
          identity: env.HOSTNAME ?? `${hostname()}-${process.pid}`,
        });
      } catch (e) {
        // Nothing was started (startServer undid what it had opened). Exit now: a stray timer or
        // socket must not keep a runner that cannot serve alive.
        const code = e instanceof StartupError ? e.code : 'STARTUP_FAILED';
        const message = e instanceof Error ? e.message : String(e);
        log.fatal({ code }, message);
        io.err(`${code}: ${message}`);
        setCode(EXIT.usage);
        await new Promise<void>((resolve) => log.flush(() => resolve()));
        process.exit(EXIT.usage);
      }
      entry.flushCaches?.();
      // Graceful shutdown replaces the CLI's default "exit on signal" (without a moment with no handler).
      await new Promise<void>((resolve) => {
        takeOverStopSignals((signal) => {
          void server.shutdown(signal).then(({ unfinished }) => {
            setCode(unfinished === 0 ? EXIT.ok : EXIT.failed);
            // Keep-alive sockets of the Kubernetes client would hold the event loop open: exit once the logs are out.
            log.flush(() => process.exit(unfinished === 0 ? EXIT.ok : EXIT.failed));
            resolve();
          });
        });
      });
    });
}
