/**
 * The step as its processes will see it, for the policy: `command`, `args` and plain `env` values
 * after the kubelet's variable expansion. Kubernetes expands `$(NAME)` in those three fields from
 * the container's own variables and turns `$$` into `$` (Kubernetes docs, "Define a command and
 * arguments for a container" and "Define dependent environment variables"; the algorithm is
 * k8s.io/kubernetes third_party/forked/golang/expansion). So text the policy decides on can differ
 * from what runs: `A: ghp_aaaa…` and `B: "$(A)bbbb…"` split a credential the secrets rule would
 * deny whole, and the process gets it whole (the class of red team 8, finding 2: text read a
 * second time after the decision). The policy decides on this view; the pod is created as built
 * (the kubelet does the expanding). Pure.
 *
 * Only plain values are known here: a variable from a Secret reference or `envFrom` stays
 * `$(NAME)` (its value never reaches the runner). Env values are taken in the step's order, which
 * is the pod's (src/pod/build.ts).
 */
import type { Step } from '../validate/schema.ts';

/**
 * `text` with the kubelet's expansion applied: `$$` → `$`; `$(NAME)` → `defined.get(NAME)` when
 * defined, else kept as written; any other `$` kept. Same result as the kubelet's `Expand` for the
 * same map.
 */
export function kubeletExpand(text: string, defined: ReadonlyMap<string, string>): string {
  if (!text.includes('$')) return text;
  let out = '';
  let i = 0;
  while (i < text.length) {
    const at = text.indexOf('$', i);
    if (at < 0 || at + 1 >= text.length) break;
    out += text.slice(i, at);
    const next = text[at + 1];
    if (next === '$') {
      out += '$';
      i = at + 2;
    } else if (next === '(' && text.indexOf(')', at + 2) >= 0) {
      const close = text.indexOf(')', at + 2);
      const name = text.slice(at + 2, close);
      out += defined.get(name) ?? `$(${name})`;
      i = close + 1;
    } else {
      out += `$${next ?? ''}`;
      i = at + 2;
    }
  }
  return out + text.slice(i);
}

type Runs = Pick<Step, 'command' | 'args' | 'env'>;

/**
 * One container spec's command, args and plain env values as its process gets them: each env
 * value expanded once, in order, from the plain values before it (already expanded), as the
 * kubelet does; command and args from all of them.
 */
function expanded<T extends Runs>(c: T): T {
  const plain = new Map<string, string>();
  type Env = NonNullable<Runs['env']>;
  let env: Env | undefined;
  if (c.env !== undefined) {
    env = {};
    for (const [name, value] of Object.entries(c.env)) {
      const seen = typeof value === 'string' ? kubeletExpand(value, plain) : value;
      if (typeof seen === 'string') plain.set(name, seen);
      Object.defineProperty(env, name, { value: seen, enumerable: true, writable: true, configurable: true });
    }
  }
  return {
    ...c,
    ...(env !== undefined ? { env } : {}),
    ...(c.command !== undefined ? { command: c.command.map((w) => kubeletExpand(w, plain)) } : {}),
    ...(c.args !== undefined ? { args: c.args.map((w) => kubeletExpand(w, plain)) } : {}),
  };
}

/** Holds a `$` in what the kubelet expands (command, args, plain env values). */
const expands = (c: Runs): boolean =>
  [...(c.command ?? []), ...(c.args ?? []), ...Object.values(c.env ?? {})].some(
    (v) => typeof v === 'string' && v.includes('$'),
  );

/**
 * `step` with the command, args and plain env values of its main container, sidecars and init
 * containers as their processes will get them; `step` itself when none holds a `$`.
 */
export function kubeletView(step: Step): Step {
  const all: Runs[] = [step, ...(step.sidecars ?? []), ...(step.initContainers ?? [])];
  if (!all.some(expands)) return step;
  return {
    ...expanded(step),
    ...(step.sidecars !== undefined ? { sidecars: step.sidecars.map(expanded) } : {}),
    ...(step.initContainers !== undefined ? { initContainers: step.initContainers.map(expanded) } : {}),
  };
}
