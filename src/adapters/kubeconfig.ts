import { KubeConfig, type RequestContext } from '@kubernetes/client-node';

type Dispatcher = NonNullable<ReturnType<RequestContext['getDispatcher']>>;
/**
 * A KubeConfig whose API calls share one connection pool per cluster and user.
 *
 * @kubernetes/client-node 2.0.1 builds a new undici Agent for every request
 * (applySecurityAuthentication → createDispatcher), so every API call opened a new TCP connection
 * and did a full TLS handshake: in a CPU profile of the 1,000-step soak, TLS setup
 * (getPeerCertificate, SecureContext, TLSSocket._start) was the largest item after idle. The first
 * Agent made for a cluster/user pair is kept and reused (keep-alive); credentials that travel as
 * headers (bearer tokens, refreshed service-account tokens) are still applied per request.
 */
export class PooledKubeConfig extends KubeConfig {
  private readonly dispatchers = new Map<string, Dispatcher>();

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await super.applySecurityAuthentication(context);
    const key = JSON.stringify([this.getCurrentCluster()?.name ?? '', this.getCurrentCluster()?.server ?? '', this.getCurrentUser()?.name ?? '']);
    const pooled = this.dispatchers.get(key);
    if (pooled !== undefined) {
      context.setDispatcher(pooled);
      return;
    }
    const made = context.getDispatcher();
    if (made !== undefined) this.dispatchers.set(key, made);
  }
}

/** A pooled KubeConfig from a file, or from the pod's service account when no file is given. */
export function loadKubeConfig(file?: string): KubeConfig {
  const kc = new PooledKubeConfig();
  if (file !== undefined) kc.loadFromFile(file);
  else kc.loadFromCluster();
  return kc;
}
