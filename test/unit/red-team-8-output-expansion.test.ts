/**
 * Red team 8, finding 2 (docs/reviews/2026-11-30-red-team-8.md). Class: a value that one step
 * WROTE, substituted into a later step's args or env, is read again by the kubelet as Kubernetes
 * variable references: `$(NAME)` in `command`, `args` and `env[].value` is expanded from the
 * container's environment (secretKeyRef and envFrom variables included; `$$` is the escape).
 * docs/workflows.md promises "the policy (and the audit record of the decision) sees the final env
 * and args"; with a `$(` in an output value it sees `$(GH_TOKEN)` and the process gets the token.
 *
 * The producing step is the one that handles untrusted data (a PR title, a scanner's verdict), the
 * consuming step is the one that holds credentials and egress: a title `fix $(GH_TOKEN) typo`
 * passed as `-d title=${steps.title.outputs.text}` to api.github.com posts the token.
 *
 * The kubelet is modelled by a port of its expansion (k8s.io/kubernetes
 * third_party/forked/golang/expansion, `Expand`/`tryReadVariableName`): `$$` → `$`, `$(NAME)` → the
 * value when NAME is defined, else kept; any other `$` kept. The assertion: what the container gets,
 * once the kubelet has expanded it, is the template with the output's value taken literally.
 * Variants: the reference in args and in an env value, the variable a secretKeyRef, an envFrom-less
 * plain env, the runner's own KUBIYA_OUTPUTS, `$$(` (an escape the value must not be able to undo),
 * and values with no `$(` (the control rows), then any printable value (fast-check, biased to
 * `$`, `(`, `)` and the container's variable names). Fixed: `substitute` doubles every `$` of a
 * value (`literalForKubelet`, src/run/outputs.ts).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type { V1Container } from '@kubernetes/client-node';
import type { PipelineDeps } from '../../src/pipeline/deps.ts';
import { buildPod } from '../../src/pod/build.ts';
import { resolveOutputs } from '../../src/reconcile/outputs.ts';
import type { StepState } from '../../src/run/status.ts';
import { validate } from '../../src/validate/validate.ts';
import { kubeletExpand } from '../support/kubelet-expansion.ts';

/** What a container's variables hold at run time: a Secret's key stands as `<secret name/key>`. */
function variables(c: V1Container): Map<string, string> {
  const out = new Map<string, string>();
  for (const e of c.env ?? []) {
    const ref = e.valueFrom?.secretKeyRef;
    out.set(e.name, ref !== undefined ? `<secret ${ref.name}/${ref.key}>` : kubeletExpand(e.value ?? '', out));
  }
  return out;
}

const R = { requests: { cpu: '100m', memory: '64Mi' }, limits: { memory: '64Mi' } };
const checked = validate({
  id: 'w',
  name: 'w',
  runId: 'r',
  steps: [
    { name: 'title', image: 'alpine:3.19.1', resources: R, outputs: [{ name: 'text' }] },
    {
      name: 'notify',
      image: 'curlimages/curl:8.8.0',
      resources: R,
      dependsOn: ['title'],
      egress: [{ host: 'api.github.com', ports: [443] }],
      outputs: [{ name: 'done' }],
      env: {
        GH_TOKEN: { secretRef: { secret: 'aws-credentials', key: 'token' } },
        MODE: 'public',
        MSG: 'PR: ${steps.title.outputs.text}',
      },
      args: ['-d', 'title=${steps.title.outputs.text}', 'https://api.github.com/repos/acme/x/issues'],
    },
  ],
});
assert.ok(checked.ok);
const workflow = checked.value;
const run = { name: 'run', ref: { id: 'w', runId: 'r' }, workflow };
const ctx = {
  runner: 'r',
  namespace: 'kubiya-workflows',
  serviceAccount: 'kubiya-workflow',
  defaultTimeoutSeconds: 60,
};

/** The notify step's container as the runner builds it once `text` is substituted. */
async function containerFor(text: string): Promise<V1Container> {
  const states = JSON.parse(JSON.stringify([{ name: 'title', phase: 'Succeeded', outputs: { text } }])) as StepState[];
  const resolved = await resolveOutputs(run, workflow.steps[1]!, states, {} as PipelineDeps);
  assert.ok(resolved.ok, resolved.ok ? '' : resolved.error.message);
  return buildPod(workflow, resolved.value, ctx).spec!.containers[0]!;
}

/** The args and MSG the process gets (after the kubelet), and those the template means (the value literal). */
async function seen(text: string): Promise<{ got: unknown; meant: unknown }> {
  const c = await containerFor(text);
  const vars = variables(c);
  return {
    got: { args: (c.args ?? []).map((a) => kubeletExpand(a, vars)), MSG: vars.get('MSG') },
    meant: { args: ['-d', `title=${text}`, 'https://api.github.com/repos/acme/x/issues'], MSG: `PR: ${text}` },
  };
}

const HOSTILE = [
  'fix $(GH_TOKEN) typo',
  '$(GH_TOKEN)',
  'a$(MODE)b',
  '$(KUBIYA_OUTPUTS)',
  '$$(GH_TOKEN)',
  '$$$(GH_TOKEN)',
  'x $( GH_TOKEN',
];
const PLAIN = ['fix typo', 'cost: $5', 'a $ b', '$HOME', '${GH_TOKEN}', '$(UNDEFINED_VAR)'];

describe('red team 8 finding 2: output values are expanded again by the kubelet', () => {
  test('the kubelet twin expands as the kubelet does', () => {
    const vars = new Map([['A', 'x']]);
    assert.equal(kubeletExpand('$(A)-$$(A)-$(B)-$A-$', vars), 'x-$(A)-$(B)-$A-$');
    assert.equal(kubeletExpand('$(A', vars), '$(A');
  });

  test('control: values that hold no reference to a defined variable reach the process as written', async () => {
    for (const text of PLAIN) {
      const { got, meant } = await seen(text);
      assert.deepEqual(got, meant, text);
    }
  });

  test('a value holding $(VAR) reaches the process as written, not as the variable', async () => {
    for (const text of HOSTILE) {
      const { got, meant } = await seen(text);
      assert.deepEqual(got, meant, text);
    }
  });

  test('any printable value reaches the process as written (property)', async () => {
    const piece = fc.oneof(
      fc.constantFrom('$', '$$', '(', ')', '$(', 'GH_TOKEN', 'MODE', 'MSG', 'KUBIYA_OUTPUTS', ' '),
      fc.string({ unit: fc.constantFrom(...'ab$()_ {}%\\'.split('')), maxLength: 8 }),
    );
    const value = fc.array(piece, { maxLength: 12 }).map((p) => p.join('').slice(0, 200));
    await fc.assert(
      fc.asyncProperty(value, async (text) => {
        const { got, meant } = await seen(text);
        assert.deepEqual(got, meant);
      }),
      { numRuns: 300 },
    );
  });
});
