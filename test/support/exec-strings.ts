import type { V1Pod } from '@kubernetes/client-node';

/** One string a container of a pod executes, with its dotted path in the pod. */
export interface ExecString {
  readonly path: string;
  readonly value: string;
}

/**
 * Every string a container of `pod` executes (REDTEAM-3 finding 1), found by walking each container
 * rather than by naming fields: `command` and `args` items, plain `env[].value`s, and every string
 * under any `exec` object at any depth (probes, lifecycle hooks, and whatever exec field Kubernetes
 * or the builder adds later). Used by the fuzz invariant and test/unit/exec-text.test.ts.
 */
export function execStrings(pod: V1Pod): ExecString[] {
  const out: ExecString[] = [];
  const under = (v: unknown, path: string): void => {
    if (typeof v === 'string') out.push({ path, value: v });
    else if (Array.isArray(v)) v.forEach((x, i) => under(x, `${path}.${i}`));
    else if (typeof v === 'object' && v !== null) for (const [k, x] of Object.entries(v)) under(x, `${path}.${k}`);
  };
  const walk = (v: unknown, path: string): void => {
    if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${path}.${i}`));
    else if (typeof v === 'object' && v !== null)
      for (const [k, x] of Object.entries(v)) {
        if (k === 'exec' || k === 'command' || k === 'args') under(x, `${path}.${k}`);
        else walk(x, `${path}.${k}`);
      }
  };
  for (const kind of ['containers', 'initContainers'] as const)
    (pod.spec?.[kind] ?? []).forEach((c, i) => {
      const at = `spec.${kind}.${i}`;
      walk({ ...c, env: undefined }, at);
      (c.env ?? []).forEach((e, j) => {
        if (e.value !== undefined) out.push({ path: `${at}.env.${j}.value`, value: e.value });
      });
    });
  return out;
}
