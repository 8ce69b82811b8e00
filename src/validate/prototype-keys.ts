/**
 * Keys a JavaScript reader drops without a word. JSON.parse makes a `"__proto__"` member an own
 * property like any other, but zod's record schemas skip it on purpose (zod v4 `$ZodRecord`: "skip
 * __proto__ so it can't replace the result prototype"), before the key schema runs, and an object
 * spread or assignment would set the prototype instead. A signed workflow with an env variable or
 * a nodeSelector label named `__proto__` therefore lost it, unvalidated: the policy input, the
 * audit record and the pod all held less than the token signed (red team 17, finding 8).
 * Refused instead, wherever it is (`constructor` and `prototype` are ordinary own keys and stay
 * allowed: every reader keeps them).
 */
import { MAX_CLAIM_DEPTH, TOO_DEEP } from './claim-limits.ts';

/** The one key refused. */
export const DROPPED_KEY = '__proto__';

/** Where a refused key is: its dotted path from `root` (indices as numbers) and why. */
export interface PrototypeKeyIssue {
  readonly path: string;
  readonly message: string;
}

/**
 * Every own `__proto__` key in `value` (plain JSON: objects and arrays), with its path from `root`;
 * at most `max`. The walk recurses, so it does not go below MAX_CLAIM_DEPTH levels of `value`: a
 * deeper container is an issue itself (validate refuses such a claim before, depth.ts). Pure;
 * never throws.
 */
export function prototypeKeyIssues(value: unknown, root: string, max = 50): PrototypeKeyIssue[] {
  const out: PrototypeKeyIssue[] = [];
  // the path as segments, joined only for a hit (a string per node was most of such walks' cost)
  const path: string[] = [root];
  const walk = (v: unknown): void => {
    if (out.length >= max || typeof v !== 'object' || v === null) return;
    if (path.length > MAX_CLAIM_DEPTH) {
      out.push({ path: path.join('.'), message: TOO_DEEP });
      return;
    }
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        path.push(String(i));
        walk(v[i]);
        path.pop();
      }
      return;
    }
    for (const k of Object.keys(v)) {
      if (out.length >= max) return;
      path.push(k);
      if (k === DROPPED_KEY)
        out.push({
          path: path.join('.'),
          message: `"${k}" is not allowed as a key: JavaScript readers drop it, so what runs would differ from what was signed`,
        });
      else walk((v as Record<string, unknown>)[k]);
      path.pop();
    }
  };
  walk(value);
  return out;
}
