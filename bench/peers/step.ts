/**
 * The peers scenario's one-step workload (issue 20 §1): the pod `buildPod()` makes for the bench
 * workflow's step BEFORE the runner's restricted mutation — no securityContext, image from an
 * allowed registry, cpu/memory requests and a memory limit, an explicit command (so a workflow
 * engine need not look the image's entrypoint up in a registry). Every row gets this same pod.
 */
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { mutate } from '../../src/mutate/restricted.ts';
import { buildPod } from '../../src/pod/build.ts';
import { validate } from '../../src/validate/validate.ts';
import { workflowOf, type BenchWorkflow } from '../runner-env.ts';

/** The step's command: explicit, short (kwok never runs it; it ends the pod after KWOK_RUN_DURATION). */
export const STEP_COMMAND: readonly string[] = ['python3', '-c', 'print("step")'];

/** How long kwok keeps each step pod Running before it ends it Succeeded (src/dev/kwok/stages.yaml). */
export const STEP_RUN_DURATION = '1s';

/** The runner's own pod hardening settings (its config defaults), used by the bare row as the runner would. */
const HARDENING = {
  runAsUser: 65532,
  runAsGroup: 65532,
  fsGroup: 65532,
  allowNetBindService: false,
  readOnlyRootFilesystem: false,
  tmpSize: '1Gi',
} as const;

/** The bench workflow for `runId` as the runner receives it (what the runner row signs). */
export const benchWorkflow = (runId: string): BenchWorkflow =>
  workflowOf(runId, { KWOK_RUN_DURATION: STEP_RUN_DURATION }, { command: [...STEP_COMMAND] });

/** The unhardened step pod of run `runId` in `namespace` (name = the name the runner would give it). */
export function stepPod(namespace: string, runId: string): V1Pod {
  const wf = validate(benchWorkflow(runId));
  if (!wf.ok) throw new Error(`the bench workflow is invalid: ${wf.error.message}`);
  const step = wf.value.steps[0];
  if (step === undefined) throw new Error('the bench workflow has no step');
  return buildPod(wf.value, step, {
    runner: 'bench',
    namespace,
    serviceAccount: 'kubiya-workflow',
    defaultTimeoutSeconds: 1800,
    workspaceSize: '10Gi',
  });
}

/** `pod` hardened by the runner's own restricted mutation (src/mutate/restricted.ts), as a new object. */
export function hardened(pod: V1Pod): V1Pod {
  return mutate(structuredClone(pod), HARDENING).pod;
}

/** The step container of a pod (named "step", else the first container). */
export function stepContainer(pod: V1Pod): V1Container | undefined {
  const cs = pod.spec?.containers ?? [];
  return cs.find((c) => c.name === 'step') ?? cs[0];
}
