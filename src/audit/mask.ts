import type { PolicyInput } from '../evaluate/evaluate.ts';

type Env = Record<string, string | { secretRef: { secret: string; key: string } }>;

function maskEnv(env: Env | undefined, base: string, masked: string[]): Env | undefined {
  if (env === undefined) return undefined;
  const out: Env = {};
  for (const [name, value] of Object.entries(env)) {
    if (typeof value === 'string') {
      out[name] = '***';
      masked.push(`${base}/${name}`);
    } else {
      out[name] = value;
    }
  }
  return out;
}

/**
 * The policy input as it may be written to the audit log: plain env values (which may hold
 * credentials) are replaced by "***" before hashing, and their JSON pointers listed in `masked`.
 * Secret references keep their names: they say which secret, never what is in it.
 */
export function maskInput(input: PolicyInput): { input: PolicyInput; masked: string[] } {
  const masked: string[] = [];
  const step = { ...input.step };
  const env = maskEnv(step.env, '/input/step/env', masked);
  if (env !== undefined) step.env = env;
  if (step.sidecars !== undefined) {
    step.sidecars = step.sidecars.map((c, i) => {
      const e = maskEnv(c.env, `/input/step/sidecars/${i}/env`, masked);
      return e === undefined ? c : { ...c, env: e };
    });
  }
  if (step.initContainers !== undefined) {
    step.initContainers = step.initContainers.map((c, i) => {
      const e = maskEnv(c.env, `/input/step/initContainers/${i}/env`, masked);
      return e === undefined ? c : { ...c, env: e };
    });
  }
  const spec = input.pod.spec;
  const maskContainers = (kind: 'containers' | 'initContainers') =>
    spec?.[kind]?.map((c, i) => ({
      ...c,
      ...(c.env !== undefined ? {
        env: c.env.map((e, j) => {
          if (e.value === undefined) return e;
          masked.push(`/input/pod/spec/${kind}/${i}/env/${j}/value`);
          return { ...e, value: '***' };
        }),
      } : {}),
    }));
  const pod = spec === undefined ? input.pod : {
    ...input.pod,
    spec: { ...spec, containers: maskContainers('containers') ?? [], ...(spec.initContainers !== undefined ? { initContainers: maskContainers('initContainers') } : {}) },
  };
  return { input: { ...input, step, pod }, masked };
}
