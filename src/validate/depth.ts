/**
 * How deep the signed claims nest, found without recursion (red team 18, finding 6). JSON.parse is
 * iterative, so jose verifies a payload nested 10,000 deep; but the readers after it recurse once
 * per level (textIssues, prototypeKeyIssues, the verification cache's deepFreeze, JSON.stringify
 * of a record) and threw `RangeError: Maximum call stack size exceeded` at about 5,000 levels:
 * admission answered INTERNAL, with a verify record and no validate record. So the claims' depth is
 * bounded first, by this walk (an explicit stack: it never throws, whatever the depth), and every
 * recursive reader after it gets at most MAX_CLAIM_DEPTH levels.
 */
import { MAX_CLAIM_DEPTH, TOO_DEEP } from './claim-limits.ts';
import { printable } from './unicode.ts';

/** Where a claim nests too deep: the dotted path of its first container past the bound, and why. */
export interface DepthIssue {
  readonly path: string;
  readonly message: string;
}

/** One container on the walk's stack: its path is its parent's plus `segment`. */
interface Frame {
  readonly value: object;
  readonly depth: number;
  readonly segment: string;
  readonly parent: Frame | undefined;
}

/**
 * The first object or array of `value` (in document order) nested deeper than `max`, with its
 * dotted path from `root` (keys escaped by `printable`, indices as numbers); undefined when there is
 * none. `depth` is the level of `value` itself (2 for a claim: the claims set is level 1).
 * Own enumerable string keys, as JSON.parse makes them (a `__proto__` member included). Iterative:
 * never throws; linear in the containers walked, and stops at the first one past `max`.
 */
export function depthIssue(value: unknown, root: string, depth = 2, max = MAX_CLAIM_DEPTH): DepthIssue | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const stack: Frame[] = [{ value, depth, segment: root, parent: undefined }];
  for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
    if (top.depth > max) return { path: pathOf(top), message: TOO_DEEP };
    const v = top.value as Record<string, unknown>;
    const keys = Array.isArray(v) ? undefined : Object.keys(v);
    const n = keys === undefined ? (v as unknown as unknown[]).length : keys.length;
    // Pushed last to first, so the first member is walked first (document order).
    for (let i = n - 1; i >= 0; i--) {
      const k = keys === undefined ? String(i) : (keys[i] as string);
      const child = v[k];
      if (typeof child === 'object' && child !== null)
        stack.push({ value: child, depth: top.depth + 1, segment: k, parent: top });
    }
  }
  return undefined;
}

/** A frame's dotted path from the root, keys escaped (a lone surrogate or NUL in a key is shown as `\uXXXX`). */
function pathOf(frame: Frame): string {
  const segments: string[] = [];
  for (let f: Frame | undefined = frame; f !== undefined; f = f.parent) segments.push(printable(f.segment));
  return segments.reverse().join('.');
}
