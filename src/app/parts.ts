/**
 * The parts `serve` assembles that need more than a constructor call: the pods port with its API
 * latency measured, the API connection bounds from config, and the control plane's keys.
 */
import type { V1Pod } from '@kubernetes/client-node';
import { createLocalJWKSet, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import type { Logger } from 'pino';
import { RemoteJwks } from '../adapters/jwks-remote.ts';
import { requestDeadlineOf, type ApiOptions } from '../adapters/kubeconfig.ts';
import type { KubePods } from '../adapters/kube-pods.ts';
import type { Config } from '../config/schema.ts';
import type { Pods } from '../ports/pods.ts';
import type { Metrics } from '../observe/metrics.ts';
import type { TrustedKeyStore } from '../verify/trusted-keys.ts';
import { OPERATOR_FILE_MAX_BYTES, readOperatorText } from '../adapters/operator-file.ts';
import { parseProblem } from '../errors/parse-problem.ts';

/** The pods port with the API latency of pod creation measured (kubiya_kube_api_request_duration_seconds). */
export function timed(pods: KubePods, metrics: Metrics): Pods {
  return {
    create: async (pod: V1Pod) => {
      const t0 = process.hrtime.bigint();
      try {
        return await pods.create(pod);
      } finally {
        metrics.kubeApi('create', Number(process.hrtime.bigint() - t0) / 1e9);
      }
    },
    get: (name) => pods.get(name),
    getWhole: (name) => pods.getWhole(name),
    cached: (name) => pods.cached(name),
    delete: (name) => pods.delete(name),
    onChange: (listener) => pods.onChange(listener),
  };
}

/** The API connection bounds from config (seconds → ms), reporting timeouts and watch restarts. */
export function apiOptions(config: Config, log: Logger, metrics: Metrics): ApiOptions {
  const a = config.kubernetes.api;
  const options: ApiOptions = {
    requestTimeoutMs: a.requestTimeout * 1000,
    watchTimeoutSeconds: a.watchTimeout,
    watchIdleMs: a.watchIdle * 1000,
    relistMs: a.relist * 1000,
    observer: {
      requestTimedOut: (phase) => {
        metrics.kubeApiTimeout(phase);
        log.warn(
          {
            code: 'KUBE_API_TIMEOUT',
            phase,
            timeout_s: phase === 'total' ? requestDeadlineOf(options) / 1000 : a.requestTimeout,
          },
          'Kubernetes API request timed out; its connection pool is replaced',
        );
      },
      watchRestarted: (kind, reason, detail) => {
        metrics.kubeApiWatchRestart(kind, reason);
        if (reason === 'idle')
          log.warn(
            { code: 'KUBE_API_WATCH_STALLED', kind, reason: detail },
            'Kubernetes API watch stalled; restarted on a new connection',
          );
        else if (reason === 'error')
          log.warn(
            { code: 'KUBE_API_WATCH_FAILED', kind, reason: detail },
            'Kubernetes API list or watch failed; restarting after a pause',
          );
        else log.debug({ kind, reason: detail }, 'Kubernetes API informer relisted');
      },
    },
  };
  return options;
}

/** The control plane's keys: a JWKS file, or the JWKS URL fetched and refreshed (published keys recorded as trusted). Throws when the file holds no keys. */
export async function loadKeys(
  config: Config,
  log: Logger,
  trust: TrustedKeyStore,
): Promise<{ keys: JWTVerifyGetKey; loaded: () => boolean; stop: () => void }> {
  const cp = config.controlPlane;
  if (cp.jwksFile !== undefined) {
    const text = await readOperatorText(cp.jwksFile, OPERATOR_FILE_MAX_BYTES.secret);
    let jwks: JSONWebKeySet;
    try {
      jwks = JSON.parse(text) as JSONWebKeySet;
    } catch (e) {
      // eslint-disable-next-line preserve-caught-error -- the parser's error quotes the file's bytes
      throw new Error(`${cp.jwksFile}: ${parseProblem(e)}`);
    }
    if (!Array.isArray(jwks.keys) || jwks.keys.length === 0) throw new Error(`${cp.jwksFile} holds no keys`);
    return { keys: createLocalJWKSet(jwks), loaded: () => true, stop: () => undefined };
  }
  const remote = new RemoteJwks({
    url: cp.jwksUrl as string,
    refreshMs: cp.jwksRefresh * 1000,
    staleIfErrorMs: cp.jwksStaleIfError * 1000,
    minRefetchMs: 30_000,
    timeoutMs: 5000,
    onError: (message) =>
      log.warn(
        { code: 'JWKS_FETCH_FAILED', reason: message },
        'could not fetch the control plane keys; using the last good ones within the stale-if-error bound',
      ),
    // Published keys are recorded as trusted too (admission records the key of each run in any case).
    onKeys: (published) =>
      void trust
        .observe(published, new Date())
        .then(
          (r) =>
            r.ok ||
            log.warn({ code: r.error.code, reason: r.error.message }, 'could not record the published keys as trusted'),
        ),
  });
  await remote.start();
  return { keys: remote.getKey, loaded: () => remote.loaded(), stop: () => remote.stop() };
}
