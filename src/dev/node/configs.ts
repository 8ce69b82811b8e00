import { stringify } from 'yaml';

/** Fixed names and addresses of the real node (one per machine: the harness takes a lock). */
export const NODE = Object.freeze({
  name: 'kubiya-real-node-0',
  /**
   * Non-loopback node address on a port-less bridge of ours (RFC 2544 benchmark range): the kubelet
   * listens here, never on the machine's own interface, and nothing outside the machine is reached.
   */
  ip: '198.18.0.2',
  /** A second host address of ours: a destination no step policy allows (the egress gate's canary). */
  canaryIp: '198.18.0.3',
  dummyLink: 'kubiya-rn0',
  bridge: 'kubiya-cni0',
  podCidr: '10.244.0.0/24',
  serviceCidr: '10.96.0.0/16',
  dnsIp: '10.96.0.10',
  /** The label and the NoSchedule taint of the real node: only pods that select and tolerate it land there. */
  label: 'kubiya.dev/real-node',
  sandboxImage: 'localhost/kubiya/pause:1',
});

/** The files and directories of one node, all under its directory. */
export interface NodePaths {
  readonly dir: string;
  readonly containerdRoot: string;
  readonly containerdState: string;
  readonly socket: string;
  readonly containerdConfig: string;
  readonly cniConf: string;
  readonly cniData: string;
  readonly kubeletRoot: string;
  readonly kubeletConfig: string;
  readonly kubeletCerts: string;
  readonly podLogs: string;
  readonly images: string;
  readonly volumes: string;
  readonly resolv: string;
  readonly state: string;
}

/** The paths of one node directory. */
export function nodePaths(dir: string): NodePaths {
  return {
    dir,
    containerdRoot: `${dir}/containerd/root`,
    containerdState: `${dir}/containerd/state`,
    socket: `${dir}/containerd/containerd.sock`,
    containerdConfig: `${dir}/containerd/config.toml`,
    cniConf: `${dir}/cni/net.d`,
    cniData: `${dir}/cni/ipam`,
    kubeletRoot: `${dir}/kubelet/root`,
    kubeletConfig: `${dir}/kubelet/config.yaml`,
    kubeletCerts: `${dir}/kubelet/pki`,
    podLogs: `${dir}/kubelet/pod-logs`,
    images: `${dir}/images`,
    volumes: `${dir}/volumes`,
    resolv: `${dir}/resolv.conf`,
    state: `${dir}/node-state.json`,
  };
}

/**
 * containerd 2.x config (version 3): CRI with the local pause image pinned, runc from Debian with
 * cgroupfs, `restrict_oom_score_adj` (root in this VM lacks CAP_SYS_RESOURCE), NRI and CDI off.
 */
export function containerdConfig(p: NodePaths, runc: string, cniBin: string): string {
  return `version = 3
root = "${p.containerdRoot}"
state = "${p.containerdState}"
[grpc]
  address = "${p.socket}"
[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = "${NODE.sandboxImage}"
[plugins."io.containerd.cri.v1.runtime"]
  enable_cdi = false
  restrict_oom_score_adj = true
  [plugins."io.containerd.cri.v1.runtime".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "${runc}"
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = ["${cniBin}"]
    conf_dir = "${p.cniConf}"
[plugins."io.containerd.nri.v1.nri"]
  disable = true
`;
}

/** CNI: one bridge (no masquerade: pods reach this host and each other, never leave the machine NATed). */
export function cniConfig(p: NodePaths): string {
  return JSON.stringify(
    {
      cniVersion: '1.0.0',
      name: 'kubiya-real-node',
      plugins: [
        {
          type: 'bridge',
          bridge: NODE.bridge,
          isGateway: true,
          ipMasq: false,
          hairpinMode: true,
          ipam: {
            type: 'host-local',
            ranges: [[{ subnet: NODE.podCidr }]],
            routes: [{ dst: '0.0.0.0/0' }],
            dataDir: p.cniData,
          },
        },
      ],
    },
    null,
    2,
  );
}

/**
 * The kubelet's configuration. cgroup v1 on this VM needs `failCgroupV1: false`; authn is anonymous
 * and authz AlwaysAllow because the API server calls pods/log without a client certificate: a
 * loopback test node only, bound to the node address of our dummy link.
 */
export function kubeletConfig(p: NodePaths): string {
  return stringify({
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    failCgroupV1: false,
    failSwapOn: false,
    containerRuntimeEndpoint: `unix://${p.socket}`,
    address: NODE.ip,
    port: 10250,
    readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1',
    healthzPort: 10248,
    authentication: { anonymous: { enabled: true }, webhook: { enabled: false } },
    authorization: { mode: 'AlwaysAllow' },
    serializeImagePulls: false,
    clusterDNS: [NODE.dnsIp],
    clusterDomain: 'cluster.local',
    resolvConf: p.resolv,
    evictionHard: { 'memory.available': '100Mi', 'nodefs.available': '2%', 'imagefs.available': '2%' },
    imageGCHighThresholdPercent: 99,
    imageGCLowThresholdPercent: 98,
    podLogsDir: p.podLogs,
    registerWithTaints: [{ key: NODE.label, value: 'true', effect: 'NoSchedule' }],
    nodeStatusUpdateFrequency: '2s',
    syncFrequency: '5s',
  });
}
