import { z } from 'zod';
import { mountConflicts } from './layout.ts';

/**
 * The step fields of issue 19 items 1, 2, 3 and 7 (docs/workflows.md): pull secrets, node
 * placement, the step's identity, and sidecar ports and readiness. Strict and bounded like the
 * rest of the schema (schema.ts); every one of them reaches a pod only through a policy decision
 * (policies/kubiya/rules/{pullsecrets,placement,identity,sidecars}).
 */
export const WORKLOAD_LIMITS = Object.freeze({
  pullSecrets: 8,
  nodeSelector: 16,
  tolerations: 16,
  ports: 16,
  /** Kubernetes' minimum for a projected service account token, and our ceiling (one day). */
  tokenMinSeconds: 600,
  tokenMaxSeconds: 86_400,
});

/** A DNS subdomain (RFC 1123): the names of Secrets and ServiceAccounts. */
export const dnsSubdomain = z
  .string()
  .min(1)
  .max(253)
  .regex(
    /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/,
    'must be a DNS subdomain: lower-case letters, digits, "-" and ".", starting and ending alphanumeric',
  );

const NAME_PART = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const PREFIX_PART = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Why `key` is not a Kubernetes label key ([prefix/]name), or undefined. */
export function labelKeyProblem(key: string): string | undefined {
  const slash = key.indexOf('/'); // -1: no prefix
  if (slash !== key.lastIndexOf('/')) return 'must be [prefix/]name with at most one "/"';
  // The patterns need a character, so an empty name or prefix fails them.
  const name = key.slice(slash + 1);
  if (name.length > 63 || !NAME_PART.test(name))
    return 'the name part must be 1-63 letters, digits, "-", "_" or ".", starting and ending alphanumeric';
  if (slash >= 0 && (slash > 253 || !PREFIX_PART.test(key.slice(0, slash))))
    return 'the prefix must be a DNS subdomain';
  return undefined;
}

/**
 * Reports a refusal of a rule that spans fields at `path` (relative to the value refined). The
 * zod issue code is not part of validate's result (it keeps each issue's path and message).
 */
function refuse(ctx: z.RefinementCtx, path: (string | number)[], message: string): void {
  ctx.addIssue({ code: 'custom', path, message });
}

const labelKey = z
  .string()
  .min(1)
  .max(317)
  .superRefine((k, ctx) => {
    const problem = labelKeyProblem(k);
    if (problem !== undefined) refuse(ctx, [], problem);
  });

const labelValue = z
  .string()
  .max(63)
  .regex(
    /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/,
    'must be a label value: at most 63 letters, digits, "-", "_", "."',
  );

/** imagePullSecrets: Secret names (type kubernetes.io/dockerconfigjson in the workflows namespace). */
export const imagePullSecrets = z
  .array(dnsSubdomain)
  .min(1)
  .max(WORKLOAD_LIMITS.pullSecrets)
  .refine((a) => new Set(a).size === a.length, 'each pull secret at most once');

/** nodeSelector: label key → value, as on a pod. */
export const nodeSelector = z
  .record(labelKey, labelValue)
  .refine((r) => Object.keys(r).length >= 1, 'at least one label')
  .refine(
    (r) => Object.keys(r).length <= WORKLOAD_LIMITS.nodeSelector,
    `at most ${WORKLOAD_LIMITS.nodeSelector} labels`,
  );

/**
 * One toleration. Stricter than Kubernetes on purpose: a key is required (a key-less `Exists`
 * tolerates every taint, node.kubernetes.io/unreachable included) and so is the effect (an empty
 * effect matches all three). `Exists` takes no value; tolerationSeconds only with NoExecute.
 */
const toleration = z
  .strictObject({
    key: labelKey,
    operator: z.enum(['Equal', 'Exists']).optional(),
    value: labelValue.optional(),
    effect: z.enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute']),
    tolerationSeconds: z.int().min(0).max(86_400).optional(),
  })
  .superRefine((t, ctx) => {
    if (t.operator === 'Exists' && t.value !== undefined && t.value !== '')
      refuse(ctx, ['value'], 'operator Exists takes no value');
    if (t.tolerationSeconds !== undefined && t.effect !== 'NoExecute')
      refuse(ctx, ['tolerationSeconds'], 'only with effect NoExecute');
  });

export const tolerations = z.array(toleration).min(1).max(WORKLOAD_LIMITS.tolerations);

/**
 * The step's identity: a ServiceAccount name, or `{name, token}` where token asks for a projected,
 * audience-bound, short-lived token (mounted read-only into the step's own container only, at
 * SERVICE_ACCOUNT_TOKEN_DIR). The legacy automounted token is never mounted (pod builder, mutate).
 */
export const serviceAccount = z.union([
  dnsSubdomain,
  z.strictObject({
    name: dnsSubdomain,
    token: z
      .strictObject({
        audience: z
          .string()
          .min(1)
          .max(253)
          .regex(/^[!-~]+$/, 'must be printable ASCII without spaces'),
        expirationSeconds: z.int().min(WORKLOAD_LIMITS.tokenMinSeconds).max(WORKLOAD_LIMITS.tokenMaxSeconds).optional(),
        /**
         * An env variable of the step's own container that the runner sets to the token file's
         * path (AWS_WEB_IDENTITY_TOKEN_FILE, ...): the value is the runner's, never a literal of
         * the step, so the credential-literal rule has nothing to read into the name.
         */
        env: z
          .string()
          .min(1)
          .max(256)
          .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a C identifier')
          .optional(),
      })
      .optional(),
  }),
]);

export type ServiceAccountSpec = z.infer<typeof serviceAccount>;

/** A sidecar port: a number, with an optional IANA_SVC_NAME name (for the probe) and protocol. */
const port = z.strictObject({
  port: z.int().min(1).max(65_535),
  name: z
    .string()
    .min(1)
    .max(15)
    .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a port name: lower-case letters, digits and "-"')
    .refine((n) => /[a-z]/.test(n) && !n.includes('--'), 'must hold a letter and no "--"')
    .optional(),
  protocol: z.enum(['TCP', 'UDP', 'SCTP']).optional(),
});

/** A sidecar's ports: names unique, and each number at most once per protocol (the API server's own rule for names). */
export const ports = z
  .array(port)
  .min(1)
  .max(WORKLOAD_LIMITS.ports)
  .superRefine((list, ctx) => {
    const names = new Set<string>();
    const numbers = new Set<string>();
    list.forEach((p, i) => {
      if (p.name !== undefined) {
        if (names.has(p.name)) refuse(ctx, [i, 'name'], `duplicate port name "${p.name}"`);
        names.add(p.name);
      }
      const key = `${p.port}/${p.protocol ?? 'TCP'}`;
      if (numbers.has(key)) refuse(ctx, [i, 'port'], `duplicate port ${key}`);
      numbers.add(key);
    });
  });

const probeTiming = {
  initialDelaySeconds: z.int().min(0).max(3600).optional(),
  periodSeconds: z.int().min(1).max(300).optional(),
  timeoutSeconds: z.int().min(1).max(300).optional(),
  failureThreshold: z.int().min(1).max(120).optional(),
};

/**
 * A sidecar's readiness probe: TCP (a port of the sidecar, by number or name: never a host, which
 * the kubelet would dial from the node, around the step's NetworkPolicy) or exec (a command in the
 * sidecar). No HTTP: issue 19 item 7 asks for TCP or exec.
 */
export const readinessProbe = z.union([
  z.strictObject({
    tcpSocket: z.strictObject({ port: z.union([z.int().min(1).max(65_535), z.string().min(1).max(15)]) }),
    ...probeTiming,
  }),
  z.strictObject({ exec: z.strictObject({ command: z.array(z.string().max(8192)).min(1).max(64) }), ...probeTiming }),
]);

export type ReadinessProbeSpec = z.infer<typeof readinessProbe>;

/** Issues when a TCP probe names a port the sidecar does not declare (by number or name). */
export function probePortIssues(
  sidecar: {
    ports?: { port: number; name?: string | undefined }[] | undefined;
    readinessProbe?: ReadinessProbeSpec | undefined;
  },
  path: (string | number)[],
  ctx: z.RefinementCtx,
): void {
  const probe = sidecar.readinessProbe;
  if (probe === undefined || !('tcpSocket' in probe)) return;
  const wanted = probe.tcpSocket.port;
  const declared =
    sidecar.ports?.some((p) => (typeof wanted === 'number' ? p.port === wanted : p.name === wanted)) ?? false;
  if (!declared)
    refuse(
      ctx,
      [...path, 'readinessProbe', 'tcpSocket', 'port'],
      `port ${String(wanted)} is not one of the sidecar's ports`,
    );
}

/** Where the step's own container finds a projected service account token (pod/workload.ts mounts it). */
export const SERVICE_ACCOUNT_TOKEN_DIR = '/var/run/secrets/kubiya.ai/serviceaccount';

/**
 * Issues for a workflow volume mounted at, under or over the token's directory when a token is
 * asked for, and for a token env variable the step's own env already sets.
 */
export function tokenMountIssues(
  step: {
    serviceAccount?: ServiceAccountSpec | undefined;
    volumes?: { mount: string }[] | undefined;
    env?: Readonly<Record<string, unknown>> | undefined;
  },
  ctx: z.RefinementCtx,
): void {
  const sa = step.serviceAccount;
  // Neither absent (undefined) nor a bare name (a string): `{name, token?}`.
  if (typeof sa !== 'object' || sa.token === undefined) return;
  const name = sa.token.env;
  if (name !== undefined && step.env !== undefined && Object.hasOwn(step.env, name))
    refuse(ctx, ['serviceAccount', 'token', 'env'], `env variable "${name}" is already set by the step's env`);
  (step.volumes ?? []).forEach((m, i) => {
    if (mountConflicts(m.mount, SERVICE_ACCOUNT_TOKEN_DIR))
      refuse(
        ctx,
        ['volumes', i, 'mount'],
        `must not be at, under or over the service account token's directory ${SERVICE_ACCOUNT_TOKEN_DIR}`,
      );
  });
}
