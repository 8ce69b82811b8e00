/**
 * Step outputs (issue 19 §4), pure: what a step wrote, and the references later steps make to it.
 *
 * A step with `outputs` finds the file to write in $KUBIYA_OUTPUTS (the container's termination
 * message file, /dev/termination-log, which the kubelet hands back in the pod's status as
 * Tekton's results are): one `name=value` line per output. Only declared names count; a value is
 * at most 1024 characters with no hidden or control character (src/validate/output-text.ts); the whole file must stay under what the
 * kubelet keeps of it (`messageBudget`), or no output is taken. Later steps name an output as `${steps.<step>.outputs.<name>}` in an env value or an
 * argument; the runner substitutes it before the step's policy evaluation.
 */
import type { V1Pod } from '@kubernetes/client-node';
import { fail, ok, type Result } from '../errors/result.ts';
import { OUTPUT_REF, type OutputRef } from '../validate/output-refs.ts';
import { hiddenIn, MAX_OUTPUT_VALUE } from '../validate/output-text.ts';
import type { Step } from '../validate/schema.ts';

/** The env var that names the outputs file, and the file (the kubelet's default termination message path). */
export const OUTPUTS_ENV = 'KUBIYA_OUTPUTS';
export const OUTPUTS_FILE = '/dev/termination-log';
export { MAX_OUTPUT_VALUE };

/**
 * What a real kubelet keeps of a termination message (k8s.io/kubernetes v1.37 pkg/kubelet): at most
 * the LAST 4096 bytes of the file (kuberuntime `tail.ReadAtMost`: a longer file loses its front,
 * so the first line kept is a fragment), and of the pod's 12 KiB the same share per container,
 * init containers and sidecars included, cut at the END (status manager `normalizeStatus`).
 */
export const MAX_CONTAINER_MESSAGE_BYTES = 4096;
export const MAX_POD_MESSAGE_BYTES = 12_288;

/**
 * The bytes a container of `pod` may write before the kubelet cuts its termination message. The
 * containers are counted from the spec and from the status (the kubelet reports every container
 * of the spec; the runner's pod cache keeps no spec), whichever says more: more is stricter.
 */
export function messageBudget(pod: V1Pod | undefined): number {
  const spec = pod?.spec;
  const status = pod?.status;
  const inSpec =
    (spec?.containers.length ?? 0) + (spec?.initContainers?.length ?? 0) + (spec?.ephemeralContainers?.length ?? 0);
  const inStatus =
    (status?.containerStatuses?.length ?? 0) +
    (status?.initContainerStatuses?.length ?? 0) +
    (status?.ephemeralContainerStatuses?.length ?? 0);
  return Math.min(MAX_CONTAINER_MESSAGE_BYTES, Math.floor(MAX_POD_MESSAGE_BYTES / Math.max(1, inSpec, inStatus)));
}

/** U+FFFD: what the API server's JSON shows for bytes that are not UTF-8 (the value is not what was written). */
const REPLACEMENT = '\uFFFD';

/** The step container's termination message as the kubelet reported it. */
const messageOf = (pod: V1Pod | undefined): string =>
  pod?.status?.containerStatuses?.find((c) => c.name === 'step')?.state?.terminated?.message ?? '';

/**
 * The declared outputs a succeeded pod wrote (its step container's termination message): the last
 * line for a name wins; lines that are not `name=value` and undeclared names are left out. Refused,
 * so that no value is ever taken in part or forged from a fragment:
 * - STEP_OUTPUT_TOO_LARGE: the message reached the kubelet's budget for this pod
 *   (`messageBudget`), so the kubelet may have cut it; or a declared value is over 1024 characters.
 * - STEP_OUTPUT_INVALID: a declared value holds a character src/validate/output-text.ts refuses
 *   (controls C0 but the tab, DEL and C1; bidirectional, zero-width and other format characters;
 *   U+2028, U+2029; lone surrogates) or bytes that are not UTF-8 (U+FFFD).
 */
export function readOutputs(pod: V1Pod | undefined, step: Step | undefined): Result<Record<string, string>> {
  const declared = new Set((step?.outputs ?? []).map((o) => o.name));
  if (declared.size === 0) return ok({});
  const message = messageOf(pod);
  const name = step?.name ?? '';
  const budget = messageBudget(pod);
  if (Buffer.byteLength(message, 'utf8') >= budget)
    return fail(
      'STEP_OUTPUT_TOO_LARGE',
      `step ${name}: its outputs file reached ${String(budget)} bytes, what the kubelet keeps for a container of this pod; it may have been cut, so no output is taken`,
    );
  const out: Record<string, string> = {};
  for (const line of message.split('\n')) {
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    const [key, value] = [line.slice(0, eq), line.slice(eq + 1).replace(/\r$/, '')];
    if (!declared.has(key)) continue;
    if (value.length > MAX_OUTPUT_VALUE)
      return fail(
        'STEP_OUTPUT_TOO_LARGE',
        `step ${name}: output ${key} is ${String(value.length)} characters, over ${String(MAX_OUTPUT_VALUE)}`,
      );
    const hidden = hiddenIn(value) ?? (value.includes(REPLACEMENT) ? 'bytes that are not UTF-8' : undefined);
    if (hidden !== undefined)
      return fail(
        'STEP_OUTPUT_INVALID',
        `step ${name}: output ${key} holds ${hidden}: an output is printable text (docs/workflows.md, Outputs)`,
      );
    Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
  }
  return ok(out);
}

/** The outputs `readOutputs` takes, or none when it refuses them (fail closed). */
export function outputsOf(pod: V1Pod | undefined, step: Step | undefined): Record<string, string> {
  const read = readOutputs(pod, step);
  return read.ok ? read.value : {};
}

/**
 * The value of output `key` in `outputs` (a step's outputs from the run's status or from its pod:
 * plain JSON that whoever may patch the status can also write), or undefined when it holds none.
 * Own string properties only: an output named like an Object.prototype member (`constructor`,
 * `toString`, `__proto__`, ...; every one a valid output name) is never read through the
 * prototype, and a value that is not a string is no value (red team 8, finding 1).
 */
export function outputValue(outputs: unknown, key: string): string | undefined {
  if (typeof outputs !== 'object' || outputs === null || !Object.hasOwn(outputs, key)) return undefined;
  const value: unknown = (outputs as Record<string, unknown>)[key];
  return typeof value === 'string' ? value : undefined;
}

/**
 * `value` as the text of a container's `command`, `args` or `env[].value` that the kubelet hands
 * to the process unchanged: every `$` doubled. The kubelet expands `$(NAME)` there from the
 * container's own variables and turns `$$` into `$` (Kubernetes docs, "Define a command and
 * arguments for a container"; k8s.io/kubernetes third_party/forked/golang/expansion), so an output
 * value pasted as is would let the text a producing step wrote pull the consuming step's variables
 * (its secrets included) into its argv (red team 8, finding 2).
 */
export const literalForKubelet = (value: string): string => value.replaceAll('$', () => '$$');

/** The names of a step's outputs marked secret. */
export const secretOutputs = (step: Step | undefined): ReadonlySet<string> =>
  new Set((step?.outputs ?? []).filter((o) => o.secret === true).map((o) => o.name));

/** Outputs without the secret ones (what status keeps). */
export function publicOutputs(
  values: Readonly<Record<string, string>>,
  step: Step | undefined,
): Record<string, string> {
  const secret = secretOutputs(step);
  return Object.fromEntries(Object.entries(values).filter(([k]) => !secret.has(k)));
}

/**
 * The step with every reference replaced by its value, escaped for the kubelet
 * (`literalForKubelet`: the process gets the value as written, and the policy decides on the text
 * the pod spec holds). `lookup` returns undefined for an output that was not written: the first
 * such reference is returned as `missing`.
 */
export function substitute(
  step: Step,
  lookup: (ref: OutputRef) => string | undefined,
): { step: Step } | { missing: OutputRef } {
  let missing: OutputRef | undefined;
  const sub = (text: string): string =>
    text.replace(OUTPUT_REF, (whole, s: string, k: string) => {
      const v = lookup({ step: s, key: k });
      if (v === undefined) missing ??= { step: s, key: k };
      return v === undefined ? whole : literalForKubelet(v);
    });
  const env =
    step.env === undefined
      ? undefined
      : Object.fromEntries(Object.entries(step.env).map(([k, v]) => [k, typeof v === 'string' ? sub(v) : v]));
  const args = step.args?.map(sub);
  if (missing !== undefined) return { missing };
  return { step: { ...step, ...(env !== undefined ? { env } : {}), ...(args !== undefined ? { args } : {}) } };
}
