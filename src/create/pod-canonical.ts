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

/** How a type is walked, parsed once per type name. */
type Shape =
  | { readonly kind: 'list'; readonly item: string }
  | { readonly kind: 'map' }
  | { readonly kind: 'model'; readonly fields: ReadonlyMap<string, { readonly type: string; readonly key: string }> }
  | { readonly kind: 'scalar' };

const SHAPES = new Map<string, Shape>();

/** The shape of `type` (cached: the comparison runs once per step pod created). */
function shapeOf(type: string): Shape {
  let shape = SHAPES.get(type);
  if (shape !== undefined) return shape;
  const item = itemType(type);
  const fields = modelFields(type);
  shape =
    item !== undefined
      ? { kind: 'list', item }
      : mapValueType(type) !== undefined
        ? { kind: 'map' }
        : fields !== undefined
          ? {
              kind: 'model',
              fields: new Map(fields.map((f) => [f.baseName, { type: f.type, key: `${type}.${f.baseName}` }])),
            }
          : { kind: 'scalar' };
  SHAPES.set(type, shape);
  return shape;
}

/**
 * `value` of type `type` (a client-node type name) in canonical form, or undefined when it means
 * absent. `field` is the `Type.field` it is the value of ('' for list items and the root).
 */
export function canonical(value: unknown, type: string, field = ''): unknown {
  if (value === undefined || value === null) return undefined;
  const shape = shapeOf(type);
  switch (shape.kind) {
    case 'list':
      if (!Array.isArray(value)) return value;
      // A list keeps its length: an item that is all defaults is still an item.
      return value.length === 0 ? undefined : value.map((v) => canonical(v, shape.item) ?? null);
    case 'map':
      return isRecord(value) ? map(value, QUANTITY_MAPS.has(field)) : value;
    case 'model':
      return isRecord(value) ? struct(value, shape.fields) : value;
    case 'scalar':
      if (value instanceof Date) return value.toISOString();
      if (value === false && !ABSENT_IS_NOT_FALSE.has(field)) return undefined;
      if (value === '' && !ABSENT_IS_NOT_EMPTY.has(field)) return undefined;
      return value;
  }
}

/** A map: its values kept as data (a label value "" is a value), quantities by their value; undefined when empty. */
function map(value: Record<string, unknown>, quantities: boolean): Record<string, unknown> | undefined {
  const out: Record<string, unknown> = {};
  let any = false;
  for (const k in value) {
    const v = value[k];
    if (v === undefined || !Object.hasOwn(value, k)) continue;
    put(out, k, quantities ? quantity(v) : v);
    any = true;
  }
  return any ? out : undefined;
}

/**
 * `o[k] = v` as an own member, also for `__proto__` (a plain assignment would set the prototype,
 * and the member would vanish from the comparison).
 */
export function put(o: Record<string, unknown>, k: string, v: unknown): void {
  if (k === '__proto__')
    Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  else o[k] = v;
}

/** A model object: its known fields canonical, its unknown ones kept unless absent. */
function struct(
  value: Record<string, unknown>,
  fields: ReadonlyMap<string, { readonly type: string; readonly key: string }>,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k in value) {
    if (!Object.hasOwn(value, k)) continue;
    const f = fields.get(k);
    const v = f === undefined ? (absentValue(value[k]) ? undefined : value[k]) : canonical(value[k], f.type, f.key);
    if (v !== undefined) put(out, k, v);
  }
  return out;
}

/**
 * Whether two canonical values are the same: JSON data compared deeply, members in any order,
 * lists in order. (Not canonicalJson text: this runs once per step pod created, and a walk
 * costs less than two canonical serialisations.)
 */
export function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((v, i) => sameValue(v, b[i]));
  }
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  const keys = Object.keys(ra);
  if (keys.length !== Object.keys(rb).length) return false;
  return keys.every((k) => Object.hasOwn(rb, k) && sameValue(ra[k], rb[k]));
}
