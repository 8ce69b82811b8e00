/**
 * The runner's pooled KubeConfig pointed at a loopback stand-in API server (plain HTTP, a bearer
 * token), for real-HTTP tests of the Kubernetes adapters: one place for the options those tests share.
 */
import { PooledKubeConfig } from '../../src/adapters/kubeconfig.ts';

/**
 * A PooledKubeConfig for `http://127.0.0.1:<port>`, requests timing out after `requestTimeoutMs`
 * (milliseconds); watches short (1 s) and quiet observers, as the adapters' tests need.
 */
export function pooledKubeConfigAt(port: number, requestTimeoutMs: number): PooledKubeConfig {
  const kc = new PooledKubeConfig({
    requestTimeoutMs,
    watchTimeoutSeconds: 1,
    watchIdleMs: 1500,
    relistMs: 60_000,
    observer: { requestTimedOut: () => undefined, watchRestarted: () => undefined },
  });
  kc.loadFromOptions({
    clusters: [{ name: 'f', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: 'u', token: 't' }],
    contexts: [{ name: 'c', cluster: 'f', user: 'u' }],
    currentContext: 'c',
  });
  return kc;
}
