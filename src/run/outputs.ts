/**
 * Step outputs (issue 19 §4), pure: what a step wrote, and the references later steps make to it.
 *
 * A step with `outputs` finds the file to write in $KUBIYA_OUTPUTS (the container's termination
 * message file, /dev/termination-log, which the kubelet hands back in the pod's status as
 * Tekton's results are): one `name=value` line per output. Only declared names count; a value is
 * at most 1024 characters with no control character; the kubelet keeps at most 4096 bytes of the
 * file. Later steps name an output as `${steps.<step>.outputs.<name>}` in an env value or an
 * argument; the runner substitutes it before the step's policy evaluation.
 */
import type { V1Pod } from '@kubernetes/client-node';
import { OUTPUT_REF, type OutputRef } from '../validate/output-refs.ts';
import type { Step } from '../validate/schema.ts';

/** The env var that names the outputs file, and the file (the kubelet's default termination message path). */
export const OUTPUTS_ENV = 'KUBIYA_OUTPUTS';
export const OUTPUTS_FILE = '/dev/termination-log';
export const MAX_OUTPUT_VALUE = 1024;

const printable = (text: string): boolean =>
  [...text].every((ch) => {
    const code = ch.codePointAt(0) ?? 0;
    return (code >= 0x20 && code !== 0x7f) || ch === '\t';
  });

/**
 * The declared outputs a finished pod wrote (its step container's termination message): the last
 * line for a name wins; lines that are not `name=value`, undeclared names, and values too long or
 * with control characters are left out.
 */
export function outputsOf(pod: V1Pod | undefined, step: Step | undefined): Record<string, string> {
  const declared = new Set((step?.outputs ?? []).map((o) => o.name));
  if (declared.size === 0) return {};
  const message = pod?.status?.containerStatuses?.find((c) => c.name === 'step')?.state?.terminated?.message ?? '';
  const out: Record<string, string> = {};
  for (const line of message.split('\n')) {
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    const [name, value] = [line.slice(0, eq), line.slice(eq + 1).replace(/\r$/, '')];
    if (declared.has(name) && value.length <= MAX_OUTPUT_VALUE && printable(value))
      Object.defineProperty(out, name, { value, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

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
 * The step with every reference replaced by its value (`lookup` returns undefined for an output
 * that was not written: the first such reference is returned as `missing`).
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
      return v ?? whole;
    });
  const env =
    step.env === undefined
      ? undefined
      : Object.fromEntries(Object.entries(step.env).map(([k, v]) => [k, typeof v === 'string' ? sub(v) : v]));
  const args = step.args?.map(sub);
  if (missing !== undefined) return { missing };
  return { step: { ...step, ...(env !== undefined ? { env } : {}), ...(args !== undefined ? { args } : {}) } };
}
