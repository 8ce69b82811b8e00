// The workflow claim (DESIGN §2): one step's fields and the rules that span them, and the workflow with
// its steps and volumes. The field schemas and their bounds are in schema-fields.ts.
import { z } from 'zod';
import { durationText, isZeroQuantity, STEP_TIMEOUT_BOUNDS } from '../units/units.ts';
import { CONDITION_LIMITS, parseCondition } from './condition.ts';
import { MAIN_CONTAINER, mountConflicts, RESERVED_MOUNTS, samePath } from './layout.ts';
import {
  argv,
  container,
  dnsLabel,
  egress,
  env,
  image,
  LIMITS,
  quantity,
  requestsWithinLimits,
  resources,
  sidecar,
  volumeMount,
} from './schema-fields.ts';
import {
  imagePullSecrets,
  nodeSelector,
  probePortIssues,
  serviceAccount,
  tokenMountIssues,
  tolerations,
} from './workload.ts';

/**
 * A duration as Kubernetes users write it: 30s, 5m, 1h30m, or seconds as a number; one parser
 * (units/units.ts) and the same bounds (1 s … 7 days) for both forms. Kept as written.
 */
export const duration = durationText(STEP_TIMEOUT_BOUNDS);

// --- retries (issue 19 §5) ---
/**
 * A step's retries: `limit` more attempts after a failed one (0 … 10), each a new pod after
 * `backoff` (default 10s) times `factor` (default 2) to the power of the attempts already retried,
 * at most one hour (src/run/retry.ts). Only a step whose pod failed is retried; a policy deny, a
 * cancellation or an error before the pod is not.
 */
const retries = z.strictObject({
  limit: z.int().min(0).max(LIMITS.retries),
  backoff: duration.optional(),
  factor: z.int().min(1).max(4).optional(),
});

// --- when (issue 19 §6) ---
/**
 * A step's condition: the grammar of src/validate/condition.ts (its names are checked against the
 * workflow in src/validate/condition-check.ts). Evaluated when the step's turn comes; false: the
 * step is Skipped with the reason.
 */
const when = z
  .string()
  .min(1)
  .max(CONDITION_LIMITS.length)
  .superRefine((text, ctx) => {
    const parsed = parseCondition(text);
    if (!parsed.ok) ctx.addIssue({ code: 'custom', message: `not a condition: ${parsed.message}` });
  });

// --- outputs (issue 19 §4) ---
/**
 * A step's named outputs: at most 16, each a C identifier (at most 63 characters), optionally
 * `secret` (never kept in status, masked in the audit log, usable only in a later step's env).
 * Written by the step to $KUBIYA_OUTPUTS as `name=value` lines (src/run/outputs.ts).
 */
const outputs = z
  .array(
    z.strictObject({
      name: z
        .string()
        .min(1)
        .max(63)
        .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a C identifier'),
      secret: z.boolean().optional(),
    }),
  )
  .max(16)
  .refine((o) => new Set(o.map((x) => x.name)).size === o.length, 'output names must be unique');

const stepFields = z.strictObject({
  name: dnsLabel,
  image,
  command: argv.optional(),
  args: argv.optional(),
  env: env.optional(),
  envFrom: z
    .array(z.strictObject({ secret: z.string().min(1).max(253) }))
    .max(16)
    .optional(),
  resources: resources.optional(),
  timeout: duration.optional(),
  sidecars: z.array(sidecar).max(LIMITS.containersPerStep).optional(),
  initContainers: z.array(container).max(LIMITS.containersPerStep).optional(),
  volumes: z.array(volumeMount).max(LIMITS.volumes).optional(),
  egress: z.array(egress).max(LIMITS.egress).optional(),
  dependsOn: z.array(dnsLabel).max(LIMITS.steps).optional(),
  // issue 19 items 1, 2, 3 (workload.ts)
  imagePullSecrets: imagePullSecrets.optional(),
  nodeSelector: nodeSelector.optional(),
  tolerations: tolerations.optional(),
  serviceAccount: serviceAccount.optional(),
  retries: retries.optional(),
  when: when.optional(),
  outputs: outputs.optional(),
});

/**
 * One step, with the rules that span fields: container names unique in the pod, requests within
 * limits on every container, mount names and (normalised) mount paths unique (nesting one workflow
 * volume inside another is allowed), and no mount at, under or over the runner's own mounts.
 */
export const stepSchema = stepFields.superRefine((step, ctx) => {
  const names = new Map<string, string>([[MAIN_CONTAINER, "the step's own container"]]);
  for (const kind of ['initContainers', 'sidecars'] as const) {
    (step[kind] ?? []).forEach((c, i) => {
      const taken = names.get(c.name);
      if (taken !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: [kind, i, 'name'],
          message: `container name "${c.name}" is already used by ${taken}`,
        });
      names.set(c.name, `${kind}[${i}]`);
      requestsWithinLimits(c.resources, [kind, i, 'resources'], ctx);
    });
  }
  requestsWithinLimits(step.resources, ['resources'], ctx);
  (step.sidecars ?? []).forEach((c, i) => probePortIssues(c, ['sidecars', i], ctx));
  tokenMountIssues(step, ctx);
  const mounts = step.volumes ?? [];
  const mountNames = new Set<string>();
  mounts.forEach((m, i) => {
    if (mountNames.has(m.name))
      ctx.addIssue({ code: 'custom', path: ['volumes', i, 'name'], message: `duplicate mount name "${m.name}"` });
    mountNames.add(m.name);
    const reserved = RESERVED_MOUNTS.find((r) => mountConflicts(m.mount, r));
    if (reserved !== undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['volumes', i, 'mount'],
        message: `must not be at, under or over the runner's own mount ${reserved}`,
      });
    const earlier = mounts.slice(0, i).findIndex((o) => samePath(m.mount, o.mount));
    if (earlier >= 0)
      ctx.addIssue({
        code: 'custom',
        path: ['volumes', i, 'mount'],
        message: `the same path as the mount of volumes[${earlier}]`,
      });
  });
});

/** A workflow volume's size: a PVC's storage request, never zero (the API server refuses a zero one at create). */
const volumeSize = quantity.refine((q) => !isZeroQuantity(q), 'must not be zero: a volume needs a size');

export const workflowSchema = z
  .strictObject({
    id: dnsLabel,
    name: z.string().min(1).max(253),
    runId: dnsLabel,
    steps: z.array(stepSchema).min(1).max(LIMITS.steps),
    volumes: z
      .array(z.strictObject({ name: dnsLabel, size: volumeSize }))
      .max(LIMITS.volumes)
      .optional(),
  })
  .superRefine((wf, ctx) => {
    const names = new Set<string>();
    wf.steps.forEach((s, i) => {
      if (names.has(s.name))
        ctx.addIssue({ code: 'custom', path: ['steps', i, 'name'], message: `duplicate step name "${s.name}"` });
      names.add(s.name);
    });
    const volumes = new Set((wf.volumes ?? []).map((v) => v.name));
    wf.steps.forEach((s, i) => {
      (s.dependsOn ?? []).forEach((d, j) => {
        if (!names.has(d) || d === s.name)
          ctx.addIssue({ code: 'custom', path: ['steps', i, 'dependsOn', j], message: `unknown step "${d}"` });
      });
      (s.volumes ?? []).forEach((v, j) => {
        if (!volumes.has(v.volume))
          ctx.addIssue({
            code: 'custom',
            path: ['steps', i, 'volumes', j, 'volume'],
            message: `unknown workflow volume "${v.volume}"`,
          });
      });
    });
  });

export type Workflow = z.infer<typeof workflowSchema>;
export type Step = z.infer<typeof stepSchema>;
