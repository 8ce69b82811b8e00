import { accessSync, constants, existsSync } from 'node:fs';
import { resolveTools, type RealNodeToolName } from '../../adapters/tools.ts';

/** Host programs the real node needs (Debian: runc, containernetworking-plugins, iptables, nftables, ipset, umoci, busybox-static, gcc, iproute2). */
export const HOST_PROGRAMS = Object.freeze({
  runc: '/usr/sbin/runc',
  cniBridge: '/usr/lib/cni/bridge',
  iptables: '/usr/sbin/iptables',
  nft: '/usr/sbin/nft',
  ipset: '/usr/sbin/ipset',
  ip: '/usr/sbin/ip',
  umoci: '/usr/bin/umoci',
  busybox: '/bin/busybox',
  gcc: '/usr/bin/gcc',
});

export const REAL_NODE_TOOLS: readonly RealNodeToolName[] = [
  'kubelet',
  'kube-proxy',
  'containerd',
  'containerd-shim-runc-v2',
  'ctr',
  'kube-router',
  'coredns',
];

/** Why a real node cannot run here (root, Linux, host programs, built tools), or an empty list. */
export function realNodeMissing(toolsDir?: string): string[] {
  const why: string[] = [];
  if (process.platform !== 'linux') why.push(`Linux is required (this is ${process.platform})`);
  if (process.getuid?.() !== 0)
    why.push('root is required (the kubelet, containerd and the CNI plugins change the host)');
  for (const [name, path] of Object.entries(HOST_PROGRAMS)) {
    try {
      accessSync(path, constants.X_OK);
    } catch {
      why.push(
        `${name} missing (${path}; Debian packages: runc containernetworking-plugins iptables nftables ipset umoci busybox-static gcc iproute2)`,
      );
    }
  }
  if (!existsSync('/proc/sys/net/ipv4')) why.push('no IPv4 networking in /proc/sys');
  const tools = resolveTools(REAL_NODE_TOOLS, toolsDir);
  if (!tools.ok) why.push(`${tools.error.message.replace('"npm run tools"', '"tools/build.sh --real-node"')}`);
  return why;
}
