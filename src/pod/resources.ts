import type { V1ResourceRequirements } from '@kubernetes/client-node';
import { isZeroQuantity, quantityValue } from '../units/units.ts';

/** Requests or limits by resource name (`cpu`, `memory`, `ephemeral-storage`), as quantities. */
export type ResourceList = Readonly<Partial<Record<string, string>>>;

/** A container's resources as the workflow gives them (any container kind). */
export interface ResourceSpec {
  readonly requests?: ResourceList | undefined;
  readonly limits?: ResourceList | undefined;
}

/** What every container gets for a resource its spec leaves out (runner.workflow.defaultResources). */
export interface ResourceDefaults {
  readonly requests?: ResourceList | undefined;
  readonly limits?: ResourceList | undefined;
}

/**
 * The defaults `serve` applies when the config says nothing (runner.workflow.defaultResources): a
 * small request and a memory limit, so that no container — the seed's postgres sidecar included —
 * runs unbounded. Below the default policy caps (policies/data.json).
 */
export const DEFAULT_RESOURCES: ResourceDefaults = Object.freeze({
  requests: Object.freeze({ cpu: '100m', memory: '128Mi' }),
  limits: Object.freeze({ memory: '512Mi' }),
});

/**
 * isZeroQuantity of a quantity's text, remembered (issue 20: every container's every request and
 * limit, the defaults included, was parsed by a regex on every pod built; the same few texts
 * repeat). A pure function of the string: at most ZERO_MAX texts of at most 32 UTF-16 units (the
 * longest quantity read), emptied when full.
 */
const zeroTexts = new Map<string, boolean>();
const ZERO_MAX = 1024;
function isZero(q: string): boolean {
  if (typeof q !== 'string' || q.length > 32) return isZeroQuantity(q);
  let zero = zeroTexts.get(q);
  if (zero === undefined) {
    zero = isZeroQuantity(q);
    if (zeroTexts.size >= ZERO_MAX) zeroTexts.clear();
    zeroTexts.set(q, zero);
  }
  return zero;
}

/**
 * Non-zero entries only: a zero request or limit means none, to the runtime and to us. As
 * `Object.fromEntries(Object.entries(list).filter(...))` did, in one loop: own enumerable string
 * keys in their order, a `__proto__` key kept as a key.
 */
function present(list: ResourceList | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (list === undefined || list === null) return out;
  for (const k of Object.keys(list)) {
    const v = list[k];
    if (v === undefined || isZero(v)) continue;
    if (k === '__proto__')
      Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
    else out[k] = v;
  }
  return out;
}

const above = (a: string, b: string): boolean => (quantityValue(a) ?? 0) > (quantityValue(b) ?? 0);

/**
 * The resources of one container (main, init or sidecar), issue 14 §3: what the spec gives, zero
 * treated as absent, then the defaults for what is still missing. A default never contradicts
 * what was asked: a default limit below the asked request is raised to the request, a default
 * request above the asked limit is lowered to the limit (the API server refuses request > limit).
 * `extraLimits` (the GPU) are added as given. Undefined when nothing at all applies.
 */
export function containerResources(
  spec: ResourceSpec | undefined,
  defaults: ResourceDefaults | undefined,
  extraLimits: Record<string, string> = {},
): V1ResourceRequirements | undefined {
  const asked = { requests: present(spec?.requests), limits: present(spec?.limits) };
  const requests: Record<string, string> = { ...asked.requests };
  const limits: Record<string, string> = { ...asked.limits };
  for (const [name, value] of Object.entries(present(defaults?.limits))) {
    if (limits[name] !== undefined) continue;
    const request = requests[name];
    limits[name] = request !== undefined && above(request, value) ? request : value;
  }
  for (const [name, value] of Object.entries(present(defaults?.requests))) {
    if (requests[name] !== undefined) continue;
    const limit = limits[name];
    requests[name] = limit !== undefined && above(value, limit) ? limit : value;
  }
  Object.assign(limits, extraLimits);
  const out: V1ResourceRequirements = {
    ...(Object.keys(requests).length > 0 ? { requests } : {}),
    ...(Object.keys(limits).length > 0 ? { limits } : {}),
  };
  return Object.keys(out).length > 0 ? out : undefined;
}
