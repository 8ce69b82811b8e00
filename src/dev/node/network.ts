/**
 * The real node's networking (docs/real-node.md): the node's own addresses on a port-less bridge,
 * kube-proxy (nftables) for Services, kube-router (firewall only) for NetworkPolicy, and our
 * FORWARD drop that keeps pod traffic on the machine. Split out of node.ts, unchanged.
 */
import { waitUntil, type Started } from '../processes.ts';
import { NODE, type NodePaths } from './configs.ts';
import { must } from './run.ts';
import { daemon, type RealNodeOptions } from './daemon.ts';

/** The node address and the egress canary's, on a bridge of ours with no ports. */
export async function hostNetwork(): Promise<void> {
  // A bridge with no ports, not a dummy link: this kernel has no dummy driver; addresses on it are local all the same.
  await must('ip', ['link', 'add', NODE.dummyLink, 'type', 'bridge']);
  await must('ip', ['addr', 'add', `${NODE.ip}/32`, 'dev', NODE.dummyLink]);
  await must('ip', ['addr', 'add', `${NODE.canaryIp}/32`, 'dev', NODE.dummyLink]);
  await must('ip', ['link', 'set', NODE.dummyLink, 'up']);
}

/** kube-proxy and kube-router, and the FORWARD drop; resolves once kube-router is healthy. */
export async function startNetwork(o: RealNodeOptions, p: NodePaths, started: Started[]): Promise<void> {
  const proxy = [
    '--kubeconfig',
    o.kubeconfig,
    '--hostname-override',
    NODE.name,
    '--proxy-mode',
    'nftables',
    '--cluster-cidr',
    NODE.podCidr,
  ];
  // 0 = leave the host's conntrack settings as they are (kube-proxy otherwise rewrites them).
  proxy.push(
    '--conntrack-max-per-core',
    '0',
    '--conntrack-tcp-timeout-established',
    '0',
    '--conntrack-tcp-timeout-close-wait',
    '0',
  );
  proxy.push('--metrics-bind-address', '127.0.0.1:10249', '--healthz-bind-address', '127.0.0.1:10256');
  daemon(o, p, 'kube-proxy', proxy, started);
  const router = [
    '--run-firewall=true',
    '--run-router=false',
    '--run-service-proxy=false',
    '--enable-cni=false',
    '--enable-ipv6=false',
  ];
  router.push(
    '--kubeconfig',
    o.kubeconfig,
    '--hostname-override',
    NODE.name,
    '--service-cluster-ip-range',
    NODE.serviceCidr,
  );
  router.push('--health-port', '20244', '--metrics-port', '0', '--iptables-sync-period', '30s');
  const r = daemon(o, p, 'kube-router', router, started);
  await waitUntil('kube-router', async () => (await fetch('http://127.0.0.1:20244/healthz')).ok, 60_000, r);
  // Safety net of ours: pod traffic is never forwarded off the machine (no masquerade, and this drop);
  // host addresses (INPUT) and other pods stay subject to the NetworkPolicy enforcer alone.
  await must('iptables', [
    '-w',
    '-I',
    'FORWARD',
    '1',
    '-i',
    NODE.bridge,
    '!',
    '-d',
    NODE.podCidr,
    '-m',
    'comment',
    '--comment',
    'kubiya real node: pods never leave the machine',
    '-j',
    'DROP',
  ]);
}
