import { z } from 'zod';
import { ENTRY_PATTERN, parseImageEntry } from '../oci/image-ref.ts';

/**
 * The settings of issue 19 items 1, 2, 3 and 7 (docs/policies.md, "Pull secrets, placement,
 * identity, sidecars"): one top-level key per feature, each read by its own rule package
 * (policies/kubiya/rules/<package>). Part of the one settings schema (settings.ts spreads
 * WORKLOAD_SETTINGS into coreSettingsSchema), so `policy build`, the runner and the chart's values
 * schema refuse the same things. Every list is an allowlist: absent or empty allows nothing.
 */

/** An image entry, as images.allowedRegistries takes it (same grammar: src/oci/image-ref.ts). */
const imageEntry = z
  .string()
  .min(1)
  .max(255)
  .regex(new RegExp(ENTRY_PATTERN), 'must be a registry host, a registry/namespace prefix or a repository')
  .refine(
    (e) => parseImageEntry(e) !== undefined,
    'must be a registry host, a registry/namespace prefix or a repository',
  );

/**
 * An allowlist keyed by one field (`name`, `key`): at most `max` entries, each key once. The Rego
 * reads such a list as an object by that key, so two entries with one key would make every
 * evaluation fail ("object insert conflict", REDTEAM-3 finding 7) — and which entry should win is
 * undecidable anyway. The refusal names the key's index and value. JSON Schema cannot say "unique
 * by a property", so the chart's schema gets `uniqueItems` (identical entries); the runner and the
 * CLI refuse the rest (POLICY_SETTINGS_INVALID), and the Rego denies any that reach it unchecked.
 */
export function keyedList<T extends z.ZodObject>(entry: T, key: string, max: number): z.ZodArray<T> {
  return z
    .array(entry)
    .max(max)
    .superRefine((list, ctx) => {
      const seen = new Set<unknown>();
      list.forEach((e, i) => {
        const k = (e as Record<string, unknown>)[key];
        if (seen.has(k))
          ctx.addIssue({ code: 'custom', path: [i, key], message: `"${String(k)}" is listed twice: each ${key} once` });
        seen.add(k);
      });
    })
    .meta({ uniqueItems: true });
}

const objectName = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/, 'must be a DNS subdomain name');

const labelKey = z
  .string()
  .min(1)
  .max(317)
  .regex(/^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/, 'must be a label key');

const labelValue = z
  .string()
  .max(63)
  .regex(/^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/, 'must be a label value');

const EFFECTS = ['NoSchedule', 'PreferNoSchedule', 'NoExecute'] as const;

export const WORKLOAD_SETTINGS = {
  pullSecrets: z
    .strictObject({
      /** Pull secrets a step may name; `registries` ties one to the registries it is for. */
      allowed: keyedList(
        z.strictObject({ name: objectName, registries: z.array(imageEntry).min(1).max(64).optional() }),
        'name',
        256,
      ).optional(),
    })
    .optional(),
  placement: z
    .strictObject({
      /** nodeSelector keys a step may use, each with the values it may ask for. */
      nodeSelectors: keyedList(
        z.strictObject({ key: labelKey, values: z.array(labelValue).min(1).max(64) }),
        'key',
        64,
      ).optional(),
      /** Tolerations a step may carry: the key, the operators (Equal unless listed), values (any when absent) and effects. */
      tolerations: z
        .array(
          z.strictObject({
            key: labelKey,
            operators: z
              .array(z.enum(['Equal', 'Exists']))
              .min(1)
              .max(2)
              .optional(),
            values: z.array(labelValue).min(1).max(64).optional(),
            effects: z.array(z.enum(EFFECTS)).min(1).max(3),
          }),
        )
        .max(64)
        .optional(),
    })
    .optional(),
  serviceAccounts: z
    .strictObject({
      /** ServiceAccounts a step may run as; `token` allows a projected token for these audiences, this long at most. */
      allowed: keyedList(
        z.strictObject({
          name: objectName,
          token: z
            .strictObject({
              audiences: z
                .array(
                  z
                    .string()
                    .min(1)
                    .max(253)
                    .regex(/^[!-~]+$/),
                )
                .min(1)
                .max(16),
              maxExpirationSeconds: z.int().min(600).max(86_400).optional(),
            })
            .optional(),
        }),
        'name',
        256,
      ).optional(),
    })
    .optional(),
  sidecars: z
    .strictObject({
      /** Readiness probe kinds a sidecar may declare (default both). */
      allowedProbes: z
        .array(z.enum(['tcpSocket', 'exec']))
        .max(2)
        .optional(),
      /** Ports below 1024 need NET_BIND_SERVICE: refused unless this is true. */
      allowPrivilegedPorts: z.boolean().optional(),
    })
    .optional(),
};
