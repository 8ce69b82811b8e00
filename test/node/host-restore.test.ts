import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CoreV1Api } from '@kubernetes/client-node';
import { diffHostState, readHostState, type HostState } from '../../src/dev/node/host-state.ts';
import { NODE } from '../../src/dev/node/configs.ts';
import { STEP_IMAGE } from '../../src/dev/node/catalogue.ts';
import { realNodeCluster, realNodeSkip, type RealNodeEnv } from '../support/real-node.ts';

const skip = realNodeSkip();

/**
 * `down` leaves the host as it found it. The class: everything the kubelet, containerd, the CNI
 * plugins, kube-proxy and kube-router change outside their own directory — sysctls (the kubelet
 * sets vm.overcommit_memory, kernel.panic, kernel.panic_on_oops; the bridge plugin ip_forward),
 * mounts (the kubelet's root bind mount, netns, overlay rootfs, volume mounts), links (bridge,
 * veths, our dummy), iptables/ip6tables rules and chains, nft tables, ipsets, kubepods cgroups and
 * /var/lib/kubelet, /var/log/containers, /run/containerd, /run/netns, /var/lib/cni. Read by an
 * independent snapshot before `up` and after `down`, with a real pod run in between.
 */
describe('real node: down restores the host', { skip }, () => {
  let host: HostState;
  let rn: RealNodeEnv;
  before(async () => {
    host = await readHostState();
    rn = await realNodeCluster();
  });
  after(async () => {
    // closed by the test; a failure before that still tears down
    if (rn !== undefined && !closed) await rn.close();
  });
  let closed = false;

  test('a pod runs on the real node, and after down the host state equals the state before up', async () => {
    const core = rn.env.kc.makeApiClient(CoreV1Api);
    const namespace = rn.env.cluster.workflowsNamespace;
    await core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name: 'host-restore' },
        spec: {
          restartPolicy: 'Never',
          automountServiceAccountToken: false,
          securityContext: { runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } },
          containers: [
            {
              name: 'step',
              image: STEP_IMAGE,
              command: ['sh', '-c', 'echo up on $(hostname); id -u'],
              securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
            },
          ],
        },
      },
    });
    const deadline = Date.now() + 60_000;
    let phase = '';
    while (Date.now() < deadline) {
      const pod = await core.readNamespacedPod({ name: 'host-restore', namespace });
      phase = pod.status?.phase ?? '';
      if (phase === 'Succeeded' || phase === 'Failed') {
        assert.equal(pod.spec?.nodeName, NODE.name, 'the namespace placed it on the real node');
        break;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(phase, 'Succeeded');
    const during = await readHostState();
    assert.ok(diffHostState(host, during).length > 0, 'the node did change the host (so the comparison can fail)');
    const left = await rn.close();
    closed = true;
    assert.deepEqual(left, [], 'down reports the host as before');
    assert.deepEqual(diffHostState(host, await readHostState()), [], 'an independent snapshot agrees');
  });
});
