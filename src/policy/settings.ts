import { z } from 'zod';
import { quantityText } from '../units/units.ts';
import { ENTRY_PATTERN, parseImageEntry } from '../oci/image-ref.ts';
import { linearTimeProblem } from '../credentials/linear-time.ts';
import { WORKLOAD_SETTINGS } from './settings-workload.ts';
import { cidr, host, ports } from './settings-network.ts';

/**
 * The typed policy settings, `kubiya.settings` (data.json, Helm `policy.settings`): ONE schema,
 * used by `policy build`, by the runner at start and on every reload (src/adapters/policy-store.ts),
 * and — generated into JSON Schema by scripts/settings-schema.ts — by the chart's values schema,
 * so Helm refuses bad settings first. Strict everywhere: unknown keys are refused, flags are JSON
 * booleans (`"false"` is refused, not read as false), enforcement actions are exactly deny, warn
 * or audit, quantities are Kubernetes quantity strings. A rule package that adds settings of its
 * own brings a JSON Schema fragment beside its Rego (`settings.schema.json`, see
 * src/policy/settings-fragments.ts); its key is the package's folder name. docs/adr/0003 explains
 * the choice of zod (already a dependency) over a separate JSON Schema validator.
 */

const quantity = quantityText;

const imageEntry = z
  .string()
  .min(1)
  .max(255)
  .regex(
    new RegExp(ENTRY_PATTERN),
    'must be a registry host, a registry/namespace prefix or a repository (lower-case path, no tag, digest or glob)',
  )
  .refine(
    (e) => parseImageEntry(e) !== undefined,
    'must be a registry host ("ghcr.io"), a registry/namespace prefix ("ghcr.io/acme") or a repository ("docker.io/library/alpine"): lower-case path, no tag, digest or glob',
  );

/** Enforcement actions, as Gatekeeper names them: deny blocks, warn and audit (dry run) record. */
export const ENFORCEMENT_ACTIONS = ['deny', 'warn', 'audit'] as const;

/**
 * Violation codes whose action is always `deny` (docs/policies.md, "Codes that are always
 * denied"): the schema refuses an `enforcement` key for them, and `lib.action` in
 * policies/kubiya/lib/lib.rego returns deny for them whatever data says (the same list,
 * `locked_codes`; test/unit/settings.test.ts compares the two). Guards: the policy cannot read its
 * settings (POLICY_SETTINGS_MISSING, POLICY_SETTINGS_INVALID), or an image the grammar refuses is
 * seen by no allow or deny entry (IMAGE_REFERENCE_INVALID). Grants: the decision's egress list is
 * what the runner opens, so warn on an EGRESS_* code would open the destination, not dry-run it;
 * warn on a SERVICE_ACCOUNT_* code would run the step as that identity (issue 19 item 3).
 */
export const LOCKED_CODES = [
  'EGRESS_ANY_DESTINATION',
  'EGRESS_NOT_ALLOWED',
  'EGRESS_WILDCARD_HOST',
  'IMAGE_REFERENCE_INVALID',
  'POLICY_SETTINGS_INVALID',
  'POLICY_SETTINGS_MISSING',
  'SERVICE_ACCOUNT_NOT_ALLOWED',
  'SERVICE_ACCOUNT_TOKEN_NOT_ALLOWED',
  'SERVICE_ACCOUNT_TOKEN_TOO_LONG',
] as const;
const LOCKED: ReadonlySet<string> = new Set(LOCKED_CODES);

/** An enforcement key: a violation code that is not locked (JSON Schema: pattern plus `not: {enum}`, which Helm's Go regexp can read). */
const enforcementKey = z
  .string()
  .regex(/^[A-Z][A-Z0-9_]{0,127}$/, 'must be a violation code such as IMAGE_TAG_NOT_PINNED')
  .refine((k) => !LOCKED.has(k), 'this code is always denied: its action cannot be changed (docs/policies.md)')
  .meta({ not: { enum: [...LOCKED_CODES] } });

/** A credential pattern: an RE2-compatible regex (no look-around, no back-references). */
const pattern = z.strictObject({
  id: z
    .string()
    .min(1)
    .max(64)
    .regex(/^[a-z0-9][a-z0-9-]*$/, 'must be a lower-case id such as "github-token"'),
  pattern: z
    .string()
    .min(1)
    .max(1024)
    .refine((p) => !/\(\?[=!<]|\\[1-9]|\\k</.test(p), 'RE2 has no look-around or back-references')
    .refine((p) => {
      try {
        new RegExp(p, 'u');
        return true;
      } catch {
        return false;
      }
    }, 'must be a valid regular expression')
    // Masking runs the bundle's patterns in JavaScript, on the event loop (src/audit/mask.ts).
    .refine(
      (p) => linearTimeProblem(p) === undefined,
      'must run in linear time in JavaScript: no unbounded quantifier (*, +, {n,}) before a literal keyword of 3 characters, no quantified group holding one (see docs/policies.md)',
    ),
});

export const coreSettingsSchema = z.strictObject({
  images: z
    .strictObject({
      allowedRegistries: z.array(imageEntry).max(256).optional(),
      deniedImages: z.array(imageEntry).max(1024).optional(),
      requireDigest: z.boolean().optional(),
    })
    .optional(),
  privilege: z
    .strictObject({
      allowedCapabilities: z
        .array(z.string().regex(/^[A-Z][A-Z0-9_]*$/, 'must be a capability name such as NET_BIND_SERVICE'))
        .max(64)
        .optional(),
      allowHostPath: z.boolean().optional(),
      allowedSysctls: z
        .array(
          z
            .string()
            .min(1)
            .max(253)
            .regex(/^[a-z0-9_./-]+$/),
        )
        .max(256)
        .optional(),
    })
    .optional(),
  resources: z
    .strictObject({
      requireRequests: z
        .array(z.enum(['cpu', 'memory', 'ephemeral-storage']))
        .max(3)
        .optional(),
      requireLimits: z
        .array(z.enum(['cpu', 'memory', 'ephemeral-storage']))
        .max(3)
        .optional(),
      maxCpu: quantity.optional(),
      maxMemory: quantity.optional(),
      maxEphemeralStorage: quantity.optional(),
      maxGpu: z.int().min(0).max(64).optional(),
    })
    .optional(),
  egress: z
    .strictObject({
      allowed: z
        .array(
          z.union([
            z.strictObject({ host, ports, cidrs: z.array(cidr).max(64).optional() }),
            z.strictObject({ cidr, ports }),
          ]),
        )
        .max(1024)
        .optional(),
      allowAnyDestination: z.boolean().optional(),
      allowWildcardHosts: z.boolean().optional(),
    })
    .optional(),
  secrets: z
    .strictObject({
      allowedSecrets: z
        .array(
          z
            .string()
            .min(1)
            .max(253)
            .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'must be a Secret name'),
        )
        .max(1024)
        .optional(),
      credentials: z
        .strictObject({
          envNames: z.array(pattern).max(256).optional(),
          values: z.array(pattern).max(256).optional(),
        })
        .optional(),
    })
    .optional(),
  volumes: z
    .strictObject({
      allowedTypes: z
        .array(z.string().regex(/^[a-z][A-Za-z]*$/, 'must be a volume type such as emptyDir'))
        .max(32)
        .optional(),
      maxSize: quantity.optional(),
      maxVolumes: z.int().min(0).max(1024).optional(),
    })
    .optional(),
  // --- retries (issue 19 §5; policies/kubiya/rules/retries) ---
  retries: z
    .strictObject({
      /** The most retries a step may ask for (step.retries.limit); absent: 0. */
      maxRetries: z.int().min(0).max(10).optional(),
    })
    .optional(),
  // --- outputs (issue 19 §4; policies/kubiya/rules/outputs) ---
  outputs: z
    .strictObject({
      /** Steps may declare secret outputs (exactly true; absent: false). */
      allowSecretOutputs: z.boolean().optional(),
    })
    .optional(),
  enforcement: z.record(enforcementKey, z.enum(ENFORCEMENT_ACTIONS)).optional(),
  ...WORKLOAD_SETTINGS,
});

/** The settings keys the core schema owns; a package fragment may not take one of them. */
export const CORE_KEYS: readonly string[] = Object.keys(coreSettingsSchema.shape);
