import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ApiException, CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import fc from 'fast-check';
import { mutate } from '../../src/mutate/restricted.ts';
import { arbitraryPod } from '../support/pod-arbitrary.ts';
import { testCluster, type TestCluster } from '../support/cluster.ts';

let env: TestCluster;
before(async () => {
  env = await testCluster();
});
after(async () => env?.close());

test('the real PodSecurity admission (enforce=restricted) admits 100 % of 250 generated, mutated pods, and refuses each with one rule broken', async () => {
  const core = env.kc.makeApiClient(CoreV1Api);
  const namespace = env.cluster.workflowsNamespace;
  const pods = fc.sample(arbitraryPod, { numRuns: 250, seed: 20261128 });
  const rejected: string[] = [];
  for (const [i, generated] of pods.entries()) {
    const { pod } = mutate(generated, {
      runAsUser: 65532,
      runAsGroup: 65532,
      fsGroup: 65532,
      allowNetBindService: i % 2 === 0,
      readOnlyRootFilesystem: i % 3 === 0,
      tmpSize: '1Gi',
    });
    pod.metadata = { ...pod.metadata, name: `oracle-${i}` };
    pod.spec = { ...pod.spec!, serviceAccountName: 'kubiya-workflow' };
    try {
      await core.createNamespacedPod({ namespace, body: pod, dryRun: 'All' });
    } catch (e) {
      rejected.push(`${i}: ${e instanceof ApiException ? String(e.body).slice(0, 300) : String(e)}`);
    }
  }
  assert.deepEqual(rejected, []);
  // And the oracle does reject: break one restricted rule in a mutated pod and PodSecurity refuses it.
  const breakers: ((p: V1Pod) => void)[] = [
    (p) => {
      p.spec!.containers[0]!.securityContext!.allowPrivilegeEscalation = true;
    },
    (p) => {
      p.spec!.containers[0]!.securityContext!.capabilities = { drop: ['ALL'], add: ['SYS_ADMIN'] };
    },
    (p) => {
      p.spec!.containers[0]!.securityContext!.runAsNonRoot = false;
    },
    (p) => {
      p.spec!.containers[0]!.securityContext!.seccompProfile = { type: 'Unconfined' };
    },
    (p) => {
      p.spec!.containers[0]!.securityContext!.runAsUser = 0;
    },
    (p) => {
      p.spec!.volumes = [...(p.spec!.volumes ?? []), { name: 'escape', hostPath: { path: '/' } }];
    },
    // issue 13 §6: the classes the independent checker gained rules for, confirmed against the oracle
    (p) => {
      p.spec!.containers[0]!.securityContext!.seLinuxOptions = { type: 'spc_t' };
    },
    (p) => {
      p.spec!.securityContext = { ...p.spec!.securityContext, seLinuxOptions: { user: 'system_u' } };
    },
    (p) => {
      delete p.metadata?.annotations;
      p.spec!.containers[0]!.securityContext!.appArmorProfile = { type: 'Unconfined' };
    },
    (p) => {
      for (const c of [...p.spec!.containers, ...(p.spec!.initContainers ?? [])])
        delete c.securityContext?.appArmorProfile;
      if (p.spec!.securityContext !== undefined) delete p.spec!.securityContext.appArmorProfile;
      p.metadata = {
        ...p.metadata,
        annotations: {
          [`container.apparmor.security.beta.kubernetes.io/${p.spec!.containers[0]!.name}`]: 'unconfined',
        },
      };
    },
  ];
  let refused = 0;
  for (const [i, generated] of pods.slice(0, 60).entries()) {
    const { pod } = mutate(generated, {
      runAsUser: 65532,
      runAsGroup: 65532,
      fsGroup: 65532,
      allowNetBindService: false,
      readOnlyRootFilesystem: false,
      tmpSize: '1Gi',
    });
    pod.metadata = {
      name: `broken-${i}`,
      ...(pod.metadata?.annotations !== undefined ? { annotations: pod.metadata.annotations } : {}),
    };
    breakers[i % breakers.length]!(pod);
    pod.spec = { ...pod.spec!, serviceAccountName: 'kubiya-workflow' };
    try {
      await core.createNamespacedPod({ namespace, body: pod, dryRun: 'All' });
    } catch (e) {
      if (e instanceof ApiException && String(e.body).includes('violates PodSecurity')) refused++;
    }
  }
  assert.equal(refused, 60, `every pod with one rule broken must be refused by PodSecurity, got ${refused}/60`);
});
