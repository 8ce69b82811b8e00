// The field schemas of the workflow claim (DESIGN §2): names, quantities, env, resources, containers,
// mounts and egress, with their bounds (LIMITS). The step and workflow rules that combine them are
// in schema.ts.
import { z } from 'zod';
import { quantityText, quantityValue } from '../units/units.ts';
import { ports, readinessProbe } from './workload.ts';

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
  /** Retries of one step (issue 19 §5); the policy's cap (settings.retries.maxRetries) is usually lower. */
  retries: 10,
});

export const dnsLabel = z
  .string()
  .min(1)
  .max(LIMITS.nameLength)
  .regex(
    /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/,
    'must be a DNS label: lower-case letters, digits and "-", starting and ending alphanumeric',
  );

const envName = z
  .string()
  .min(1)
  .max(256)
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a C identifier');

export const quantity = quantityText;

export const argv = z.array(z.string().max(LIMITS.argLength)).max(LIMITS.argv);

const secretRef = z.strictObject({
  secret: dnsLabel.or(
    z
      .string()
      .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/)
      .max(253),
  ),
  key: z.string().min(1).max(253),
});

/** env: plain values, or references to a Secret key (the value never travels in the token). */
export const env = z
  .record(envName, z.union([z.string().max(32768), z.strictObject({ secretRef })]))
  .refine((e) => Object.keys(e).length <= LIMITS.envPerContainer, `at most ${LIMITS.envPerContainer} variables`);

const resourceList = z.strictObject({
  cpu: quantity.optional(),
  memory: quantity.optional(),
  'ephemeral-storage': quantity.optional(),
});

/**
 * Requests and limits of one container. A zero ("0", "0Mi", "0m") means "none", as the runtime
 * reads it: the pod builder treats it as absent (the configured default applies). A request above
 * its limit is refused here, as the API server would refuse the pod.
 */
const containerResources = z.strictObject({ requests: resourceList.optional(), limits: resourceList.optional() });

export const resources = containerResources.extend({ gpu: z.int().min(0).max(16).optional() });

export type ResourceSpec = z.infer<typeof containerResources>;

/** Issues for each resource whose (non-zero) request is above its (non-zero) limit. */
export function requestsWithinLimits(
  r: ResourceSpec | undefined,
  path: (string | number)[],
  ctx: z.RefinementCtx,
): void {
  const limits: Readonly<Record<string, string | undefined>> = r?.limits ?? {};
  for (const [name, request] of Object.entries(r?.requests ?? {})) {
    const limit = limits[name];
    if (request === undefined || limit === undefined) continue;
    const [req, lim] = [quantityValue(request), quantityValue(limit)];
    if (req !== undefined && lim !== undefined && lim > 0 && req > lim) {
      ctx.addIssue({
        code: 'custom',
        path: [...path, 'requests', name],
        message: `the ${name} request is above its limit (${limit})`,
      });
    }
  }
}

export const image = z
  .string()
  .min(1)
  .max(LIMITS.imageLength)
  .regex(/^[^\s]+$/, 'must not contain whitespace');

/** A sidecar or init container: bounded like the step's own container (issue 14 §3). */
export const container = z.strictObject({
  name: dnsLabel,
  image,
  command: argv.optional(),
  args: argv.optional(),
  env: env.optional(),
  resources: containerResources.optional(),
});

/** A sidecar: a container that may declare ports and a readiness probe (issue 19 item 7, workload.ts). */
export const sidecar = container.extend({ ports: ports.optional(), readinessProbe: readinessProbe.optional() });

/**
 * A mount of a workflow volume into the step. The pod's volume is named `vol-<name>`, so the name
 * leaves room for the prefix within a DNS label; the path is absolute, without "..", and is
 * compared with the others after normalisation (see pod/mounts.ts).
 */
export const volumeMount = z.strictObject({
  name: dnsLabel.max(LIMITS.nameLength - 4, 'must be at most 59 characters (the pod volume is named vol-<name>)'),
  mount: z
    .string()
    .min(1)
    .max(1024)
    .regex(/^\/[^\0]*$/, 'must be an absolute path')
    .refine((p) => !p.split('/').includes('..'), 'must not contain ".."'),
  volume: dnsLabel,
  readOnly: z.boolean().optional(),
});

export const egress = z.union([
  z.strictObject({ host: z.string().min(1).max(253), ports: z.array(z.int().min(1).max(65535)).min(1).max(16) }),
  z.strictObject({ cidr: z.string().min(1).max(64), ports: z.array(z.int().min(1).max(65535)).min(1).max(16) }),
]);
