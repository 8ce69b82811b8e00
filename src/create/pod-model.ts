/**
 * client-node's model of the pod API (its generated `getAttributeTypeMap()` per model class), read
 * as a schema: which fields a type has, and each field's type (`V1Container`, `Array<V1Volume>`,
 * `{ [key: string]: string; }`, `string`, `boolean`, `number`, `IntOrString`, `Date`, `any`). The
 * comparison of an admitted pod with the decided one (admitted.ts) walks it, so a field a future
 * client adds is compared from the day it is in the model (test/unit/pod-altered-fields.test.ts
 * enumerates the same walk). Pure.
 */
import * as k8s from '@kubernetes/client-node';

/** One field of a model class: its TypeScript name, its JSON name, its type as client-node spells it. */
export interface ModelField {
  readonly name: string;
  readonly baseName: string;
  readonly type: string;
}

type ModelClass = { getAttributeTypeMap?: () => readonly ModelField[] };
/** The model classes client-node exports, by name. */
const MODELS = k8s as unknown as Readonly<Record<string, ModelClass | undefined>>;

/** The fields of model type `type` (`V1PodSpec`, ...), or undefined when `type` is not a model class. */
export function modelFields(type: string): readonly ModelField[] | undefined {
  if (!/^V\d\w*$/.test(type) || !Object.hasOwn(MODELS, type)) return undefined;
  return MODELS[type]?.getAttributeTypeMap?.();
}

/** The item type of `Array<T>`, or undefined when `type` is not an array type. */
export const itemType = (type: string): string | undefined => /^Array<(.+)>$/.exec(type)?.[1];

/** The value type of `{ [key: string]: T; }`, or undefined when `type` is not a map type. */
export const mapValueType = (type: string): string | undefined => /^\{ \[key: string\]: (.+); \}$/.exec(type)?.[1];

/** A plain JSON object (not an array, not null, not a Date). */
export const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
