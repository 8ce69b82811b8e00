// The API server as pods on the real node see it: the `kubernetes` Service (10.96.0.1:443, routed by
// kube-proxy) with an endpoint of ours on the node address, our forwarder behind it to the API server
// on loopback, and the two controllers a pod with a service account and a Service needs (docs/real-node.md).
import { connect } from 'node:net';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { resolveTools } from '../../adapters/tools.ts';
import { startProcess, waitUntil, type Started } from '../processes.ts';
import { DiscoveryV1Api } from '@kubernetes/client-node';
import { ensure, kubeClient, poll } from './api.ts';
import { FORWARDER_FILE, type HostPort } from './api-forwarder.ts';
import { NODE } from './configs.ts';

/** Where the `kubernetes` Service's endpoint points: our forwarder on the node address. */
export const API_ENDPOINT: HostPort = Object.freeze({ host: NODE.ip, port: 6443 });

/**
 * The controllers the local control plane leaves out and a real pod needs: EndpointSlices for
 * Services with a selector (the chart's Service, kube-dns), and the `kube-root-ca.crt` ConfigMap
 * that every service-account token volume mounts (without it such a pod never starts).
 */
export const NODE_CONTROLLERS = ['endpointslice-controller', 'root-ca-certificate-publisher-controller'] as const;

/** The EndpointSlice of the `kubernetes` Service (the API server's endpoint reconciler is `none` here). */
export function kubernetesEndpointSlice(): object {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: 'kubernetes-real-node',
      namespace: 'default',
      labels: {
        'kubernetes.io/service-name': 'kubernetes',
        'endpointslice.kubernetes.io/managed-by': 'real-node.kubiya.dev',
      },
    },
    addressType: 'IPv4',
    endpoints: [{ addresses: [API_ENDPOINT.host], conditions: { ready: true } }],
    ports: [{ name: 'https', port: API_ENDPOINT.port, protocol: 'TCP' }],
  };
}

function accepts(to: HostPort): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(to.port, to.host);
    const done = (ok: boolean): void => {
      s.destroy();
      resolve(ok);
    };
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
    s.setTimeout(1000, () => done(false));
  });
}

/**
 * Starts the forwarder (API_ENDPOINT → the kubeconfig's API server) and a kube-controller-manager
 * running NODE_CONTROLLERS only, and writes the `kubernetes` EndpointSlice. Resolves once the
 * forwarder accepts connections and the CA ConfigMap is published; throws otherwise.
 */
export async function startApiAccess(
  o: { kubeconfig: string; dir: string; detached: boolean },
  started: Started[],
): Promise<void> {
  const { kc, core, objects } = kubeClient(o.kubeconfig);
  const cluster = kc.getCurrentCluster();
  if (cluster === null) throw new Error(`${o.kubeconfig}: no current cluster`);
  const api = new URL(cluster.server);
  // The node's directory last: ignored by the forwarder, it marks the process as this node's (owned.ts).
  const args = [FORWARDER_FILE, API_ENDPOINT.host, String(API_ENDPOINT.port), api.hostname, api.port, o.dir];
  const fwd = startProcess('api-forwarder', process.execPath, args, join(o.dir, 'api-forwarder.log'), o.detached);
  started.push(fwd);
  await waitUntil('api-forwarder', () => accepts(API_ENDPOINT), 20_000, fwd);
  await ensure(objects, kubernetesEndpointSlice());

  const tools = resolveTools(['kube-controller-manager']);
  if (!tools.ok) throw new Error(tools.error.message);
  const ca = join(o.dir, 'api-ca.crt');
  await writeFile(ca, Buffer.from(cluster.caData ?? '', 'base64'));
  const kcm = startProcess(
    'kube-controller-manager',
    tools.value['kube-controller-manager'],
    ['--kubeconfig', o.kubeconfig, '--leader-elect=false', '--secure-port', '0', '--root-ca-file', ca].concat([
      '--controllers',
      NODE_CONTROLLERS.join(','),
      '--v',
      '0',
    ]),
    join(o.dir, 'kube-controller-manager.log'),
    o.detached,
  );
  started.push(kcm);
  const published = async (): Promise<boolean> =>
    (await core.readNamespacedConfigMap({ name: 'kube-root-ca.crt', namespace: 'default' })).data?.['ca.crt'] !==
    undefined;
  await waitUntil('kube-controller-manager (kube-root-ca.crt published)', published, 60_000, kcm);
}

/** Deletes the `kubernetes` EndpointSlice of ours (its endpoint goes away with the node); best effort. */
export async function removeApiAccess(kubeconfig: string): Promise<void> {
  const { objects } = kubeClient(kubeconfig);
  await objects.delete(kubernetesEndpointSlice()).catch(() => undefined);
}

/** Resolves once a Service has a ready endpoint in its EndpointSlices; throws after timeoutMs. */
export async function serviceReady(
  kubeconfig: string,
  namespace: string,
  service: string,
  timeoutMs: number,
): Promise<void> {
  const discovery = kubeClient(kubeconfig).kc.makeApiClient(DiscoveryV1Api);
  await poll(
    `a ready endpoint of Service ${namespace}/${service}`,
    async () => {
      const slices = await discovery.listNamespacedEndpointSlice({
        namespace,
        labelSelector: `kubernetes.io/service-name=${service}`,
      });
      return slices.items.some((s) => (s.endpoints ?? []).some((e) => e.conditions?.ready === true)) ? true : undefined;
    },
    timeoutMs,
  );
}
