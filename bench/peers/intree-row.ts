/**
 * The in-tree row of the peers scenario (issue 20 §1): what kube-apiserver gives for free —
 * PodSecurity restricted (the namespace's labels) + a ValidatingAdmissionPolicy + a
 * MutatingAdmissionPolicy (bench/peers/intree-policy.ts), bound to the row's namespace only — in
 * front of a bare client-node create of the UNHARDENED step pod. No process of its own: its cost
 * shows in the API server's CPU. No terminal record.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { AdmissionregistrationV1Api, ApiException, CoreV1Api } from '@kubernetes/client-node';
import { apiGetText } from './metrics.ts';
import { admissionError } from './bare-row.ts';
import {
  allowedRegistries,
  mutatingBinding,
  mutatingPolicy,
  validatingBinding,
  validatingPolicy,
} from './intree-policy.ts';
import type { PeerEnv, PeerRow } from './peer.ts';
import { restrictedGaps } from './parity.ts';
import { stepContainer, stepPod } from './step.ts';

const VAP = 'peer-intree-step-rules';
const MAP = 'peer-intree-restricted';

/** Does the API server serve MutatingAdmissionPolicy in admissionregistration.k8s.io/v1? */
async function servesMap(env: PeerEnv): Promise<boolean> {
  const list = JSON.parse(await apiGetText(env.kubeConfig, '/apis/admissionregistration.k8s.io/v1')) as {
    resources?: { name: string }[];
  };
  return (list.resources ?? []).some((r) => r.name === 'mutatingadmissionpolicies');
}

/**
 * Waits (30 s) until both policies act in the namespace: a dry-run create of a `:latest` pod is
 * denied and a dry-run create of the step pod comes back with the restricted securityContext.
 */
async function awaitEnforced(core: CoreV1Api, namespace: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  let last = 'no attempt';
  while (Date.now() < deadline) {
    const ok = stepPod(namespace, 'intree-gate');
    const bad = stepPod(namespace, 'intree-gate-latest');
    const c = stepContainer(bad);
    if (c !== undefined) c.image = 'python:latest';
    try {
      const admitted = await core.createNamespacedPod({ namespace, body: ok, dryRun: 'All' });
      const gaps = restrictedGaps(admitted);
      const denied = await core.createNamespacedPod({ namespace, body: bad, dryRun: 'All' }).then(
        () => false,
        () => true,
      );
      if (gaps.length === 0 && denied) return;
      last = `mutation gaps: ${gaps.join('; ') || 'none'}; :latest denied: ${denied}`;
    } catch (e) {
      last = admissionError(e).message;
    }
    await sleep(250);
  }
  throw new Error(`in-tree policies not in force after 30 s (${last})`);
}

async function deleteIgnoringAbsent(p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch (e) {
    if (!(e instanceof ApiException && e.code === 404)) throw e;
  }
}

/** The in-tree row. */
export function inTreeRow(): PeerRow {
  let core: CoreV1Api | undefined;
  let adm: AdmissionregistrationV1Api | undefined;
  let namespace = '';
  return {
    name: 'in-tree: PodSecurity restricted + VAP + MAP (CEL)',
    skipReason: () => Promise.resolve(undefined),
    async start(env) {
      if (!(await servesMap(env)))
        throw new Error('the API server does not serve admissionregistration.k8s.io/v1 mutatingadmissionpolicies');
      core = env.kubeConfig.makeApiClient(CoreV1Api);
      adm = env.kubeConfig.makeApiClient(AdmissionregistrationV1Api);
      namespace = env.namespace;
      await adm.createValidatingAdmissionPolicy({ body: validatingPolicy(VAP, allowedRegistries()) });
      await adm.createValidatingAdmissionPolicyBinding({ body: validatingBinding(VAP, VAP, namespace) });
      await adm.createMutatingAdmissionPolicy({ body: mutatingPolicy(MAP) });
      await adm.createMutatingAdmissionPolicyBinding({ body: mutatingBinding(MAP, MAP, namespace) });
      await awaitEnforced(core, namespace);
      env.log('VAP + MAP in force');
    },
    async submit(step) {
      if (core === undefined) throw new Error('the in-tree row is not started');
      try {
        await core.createNamespacedPod({ namespace, body: step.pod });
      } catch (e) {
        throw admissionError(e);
      }
      return { podName: step.pod.metadata?.name ?? '' };
    },
    terminalRecordAt: () => Promise.resolve(undefined),
    async reset() {
      await core?.deleteCollectionNamespacedPod({ namespace, gracePeriodSeconds: 0 });
    },
    pids: () => [],
    async stop() {
      if (adm === undefined) return;
      await deleteIgnoringAbsent(adm.deleteValidatingAdmissionPolicyBinding({ name: VAP }));
      await deleteIgnoringAbsent(adm.deleteValidatingAdmissionPolicy({ name: VAP }));
      await deleteIgnoringAbsent(adm.deleteMutatingAdmissionPolicyBinding({ name: MAP }));
      await deleteIgnoringAbsent(adm.deleteMutatingAdmissionPolicy({ name: MAP }));
    },
    lacks: ['token verification', 'durable decision record (audit)', 'per-step egress policy', 'run object / status'],
  };
}
