/**
 * A pod spec field in one canonical form, so that two pods that mean the same compare equal
 * whatever the JSON spelling: walked by client-node's model (pod-model.ts), members in the
 * model's order, what means "absent" left out. Rules (closed; test/unit/pod-altered-fields.test.ts):
 *
 * - null, an empty list and an empty map are absent (the API server omits them: `omitempty`).
 * - `false` and `""` are absent (an omitted Go bool or string), except where absence means
 *   something else: ABSENT_IS_NOT_FALSE (absent means true, or "inherit the pod's"), and
 *   ABSENT_IS_NOT_EMPTY (`""` has its own meaning).
 * - A number is never absent: 0 is root as a runAsUser, "kill now" as a grace period.
 * - A resource quantity is its value (`1000m` and `1` are one CPU; the API server rewrites
 *   quantities in canonical form and rounds them up to milli-units).
 * - An empty struct stays (`emptyDir: {}` is a volume source).
 * - A field the model does not know (a newer API server's addition) is kept as sent unless it is
 *   absent by the rules above or `{}`: a pod with it differs from a decision without it, fail
 *   closed. A 0 there is kept too (see numbers).
 *
 * Pure.
 */
import { isRecord, itemType, mapValueType, modelFields } from './pod-model.ts';
import { quantityValue } from '../units/units.ts';

/**
 * Booleans whose absence is not `false` (`Type.field`): the account's automount (absent: the
 * ServiceAccount decides, true by default), service links and host users (absent: true),
 * allowPrivilegeEscalation (absent: true), and the container fields that inherit the pod's.
 */
export const ABSENT_IS_NOT_FALSE: ReadonlySet<string> = new Set([
  'V1PodSpec.automountServiceAccountToken',
  'V1PodSpec.enableServiceLinks',
  'V1PodSpec.hostUsers',
  'V1SecurityContext.allowPrivilegeEscalation',
  'V1SecurityContext.runAsNonRoot',
  'V1WindowsSecurityContextOptions.hostProcess',
]);

/** Strings where `""` is not absence: a claim's storage class `""` is "no class", absent is "the default class". */
export const ABSENT_IS_NOT_EMPTY: ReadonlySet<string> = new Set([
  'V1PersistentVolumeClaimSpec.storageClassName',
  'V1PersistentVolumeClaimSpec.volumeAttributesClassName',
]);

/** Maps of resource quantities, by `Type.field`. */
const QUANTITY_MAPS: ReadonlySet<string> = new Set([
  'V1ResourceRequirements.limits',
  'V1ResourceRequirements.requests',
  'V1VolumeResourceRequirements.limits',
  'V1VolumeResourceRequirements.requests',
  'V1PodSpec.overhead',
]);

/** A quantity by its value rounded up to milli-units (SetDefaults_ResourceList); as given when unparsed. */
function quantity(q: unknown): unknown {
  if (typeof q === 'number') return Math.ceil(q * 1000);
  const v = typeof q === 'string' ? quantityValue(q) : undefined;
  return v === undefined ? q : Math.ceil(v * 1000);
}

/** True for a value that means "absent" wherever the model does not say otherwise (and for `{}`). */
export function absentValue(v: unknown): boolean {
  if (v === undefined || v === null || v === false || v === '') return true;
  if (Array.isArray(v)) return v.length === 0;
  return isRecord(v) && Object.keys(v).length === 0;
}

/**
 * `value` of type `type` (a client-node type name) in canonical form, or undefined when it means
 * absent. `field` is the `Type.field` it is the value of ('' for list items and the root).
 */
export function canonical(value: unknown, type: string, field = ''): unknown {
  if (value === undefined || value === null) return undefined;
  const item = itemType(type);
  if (item !== undefined) {
    if (!Array.isArray(value)) return value;
    // A list keeps its length: an item that is all defaults is still an item.
    return value.length === 0 ? undefined : value.map((v) => canonical(v, item) ?? null);
  }
  const valueType = mapValueType(type);
  if (valueType !== undefined) {
    if (!isRecord(value)) return value;
    const out: Record<string, unknown> = {};
    // Map values are data (a label value "" is a value): kept, quantities by their value.
    for (const [k, v] of Object.entries(value))
      if (v !== undefined) out[k] = QUANTITY_MAPS.has(field) ? quantity(v) : v;
    return Object.keys(out).length === 0 ? undefined : out;
  }
  const fields = modelFields(type);
  if (fields !== undefined) return isRecord(value) ? struct(value, type, fields) : value;
  if (value instanceof Date) return value.toISOString();
  if (value === false && !ABSENT_IS_NOT_FALSE.has(field)) return undefined;
  if (value === '' && !ABSENT_IS_NOT_EMPTY.has(field)) return undefined;
  return value;
}

/** A model object: its known fields canonical, its unknown ones kept unless absent. */
function struct(
  value: Record<string, unknown>,
  type: string,
  fields: readonly { readonly baseName: string; readonly type: string }[],
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const known = new Set<string>();
  for (const f of fields) {
    known.add(f.baseName);
    const v = canonical(value[f.baseName], f.type, `${type}.${f.baseName}`);
    if (v !== undefined) out[f.baseName] = v;
  }
  for (const [k, v] of Object.entries(value)) if (!known.has(k) && !absentValue(v)) out[k] = v;
  return out;
}
