import { z } from 'zod';

/**
 * The `workflow` claim of an assignment token (DESIGN §2). Strict everywhere: unknown keys are
 * rejected, counts and lengths are bounded, names must already be DNS-safe labels so that nothing
 * is silently renamed between what was signed and what runs.
 */
export const LIMITS = Object.freeze({
  steps: 64,
  containersPerStep: 8,
  envPerContainer: 128,
  argv: 256,
  argLength: 8192,
  volumes: 16,
  egress: 64,
  nameLength: 63,
  imageLength: 512,
});

const dnsLabel = z
  .string()
  .min(1)
  .max(LIMITS.nameLength)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a DNS label: lower-case letters, digits and "-", starting and ending alphanumeric');

const envName = z.string().min(1).max(256).regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a C identifier');

const quantity = z
  .string()
  .max(32)
  .regex(/^[0-9]+(\.[0-9]+)?(m|k|Ki|Mi|Gi|Ti|Pi|M|G|T|P|E|Ei)?$/, 'must be a Kubernetes quantity such as 100m, 256Mi or 1');

const argv = z.array(z.string().max(LIMITS.argLength)).max(LIMITS.argv);

const secretRef = z.strictObject({ secret: dnsLabel.or(z.string().regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/).max(253)), key: z.string().min(1).max(253) });

/** env: plain values, or references to a Secret key (the value never travels in the token). */
const env = z
  .record(envName, z.union([z.string().max(32768), z.strictObject({ secretRef })]))
  .refine((e) => Object.keys(e).length <= LIMITS.envPerContainer, `at most ${LIMITS.envPerContainer} variables`);

const resources = z.strictObject({
  requests: z.strictObject({ cpu: quantity.optional(), memory: quantity.optional(), 'ephemeral-storage': quantity.optional() }).optional(),
  limits: z.strictObject({ cpu: quantity.optional(), memory: quantity.optional(), 'ephemeral-storage': quantity.optional() }).optional(),
  gpu: z.int().min(0).max(16).optional(),
});

const image = z.string().min(1).max(LIMITS.imageLength).regex(/^[^\s]+$/, 'must not contain whitespace');

const container = z.strictObject({
  name: dnsLabel,
  image,
  command: argv.optional(),
  args: argv.optional(),
  env: env.optional(),
});

const volumeMount = z.strictObject({
  name: dnsLabel,
  mount: z.string().min(1).max(1024).regex(/^\/[^\0]*$/, 'must be an absolute path').refine((p) => !p.split('/').includes('..'), 'must not contain ".."'),
  volume: dnsLabel,
  readOnly: z.boolean().optional(),
});

const egress = z.union([
  z.strictObject({ host: z.string().min(1).max(253), ports: z.array(z.int().min(1).max(65535)).min(1).max(16) }),
  z.strictObject({ cidr: z.string().min(1).max(64), ports: z.array(z.int().min(1).max(65535)).min(1).max(16) }),
]);

/** A duration as Kubernetes users write it: 30s, 5m, 1h30m, or seconds as a number. */
export const duration = z.union([z.int().min(1).max(7 * 24 * 3600), z.string().regex(/^([0-9]+h)?([0-9]+m)?([0-9]+s)?$/).refine((s) => s.length > 0)]);

export const stepSchema = z.strictObject({
  name: dnsLabel,
  image,
  command: argv.optional(),
  args: argv.optional(),
  env: env.optional(),
  envFrom: z.array(z.strictObject({ secret: z.string().min(1).max(253) })).max(16).optional(),
  resources: resources.optional(),
  timeout: duration.optional(),
  sidecars: z.array(container).max(LIMITS.containersPerStep).optional(),
  initContainers: z.array(container).max(LIMITS.containersPerStep).optional(),
  volumes: z.array(volumeMount).max(LIMITS.volumes).optional(),
  egress: z.array(egress).max(LIMITS.egress).optional(),
  dependsOn: z.array(dnsLabel).max(LIMITS.steps).optional(),
});

export const workflowSchema = z
  .strictObject({
    id: dnsLabel,
    name: z.string().min(1).max(253),
    runId: dnsLabel,
    steps: z.array(stepSchema).min(1).max(LIMITS.steps),
    volumes: z.array(z.strictObject({ name: dnsLabel, size: quantity })).max(LIMITS.volumes).optional(),
  })
  .superRefine((wf, ctx) => {
    const names = new Set<string>();
    wf.steps.forEach((s, i) => {
      if (names.has(s.name)) ctx.addIssue({ code: 'custom', path: ['steps', i, 'name'], message: `duplicate step name "${s.name}"` });
      names.add(s.name);
    });
    const volumes = new Set((wf.volumes ?? []).map((v) => v.name));
    wf.steps.forEach((s, i) => {
      (s.dependsOn ?? []).forEach((d, j) => {
        if (!names.has(d) || d === s.name) ctx.addIssue({ code: 'custom', path: ['steps', i, 'dependsOn', j], message: `unknown step "${d}"` });
      });
      (s.volumes ?? []).forEach((v, j) => {
        if (!volumes.has(v.volume)) ctx.addIssue({ code: 'custom', path: ['steps', i, 'volumes', j, 'volume'], message: `unknown workflow volume "${v.volume}"` });
      });
    });
  });

export type Workflow = z.infer<typeof workflowSchema>;
export type Step = z.infer<typeof stepSchema>;
