/**
 * The step as its processes will see it, for the policy (src/evaluate/kubelet-view.ts). The class
 * (red team 8, finding 2's sibling): text read a second time after the decision. The kubelet
 * expands `$(NAME)` in command, args and env values, so a workflow that composes a value from
 * others (`B: "$(A)…"`) runs text the policy never saw. Checked here: the runner's expansion is the
 * kubelet's (against an independent port, generated strings); env values expand in order from the
 * plain values before them; Secret references stay unknown; sidecars and init containers too; a
 * step with no `$` is given back as it is.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { kubeletExpand, kubeletView } from '../../src/evaluate/kubelet-view.ts';
import type { Step } from '../../src/validate/schema.ts';
import { kubeletExpand as portedExpand } from '../support/kubelet-expansion.ts';

test('kubeletExpand is the kubelet’s expansion (independent port, generated text)', () => {
  const defined = new Map([
    ['A', 'x'],
    ['B', '$(A)'],
    ['', 'empty'],
  ]);
  const piece = fc.oneof(
    fc.constantFrom('$', '$$', '(', ')', '$(', '$()', 'A', 'B', 'C', ' ', 'x'),
    fc.string({ unit: fc.constantFrom(...'$()AB x'.split('')), maxLength: 6 }),
  );
  fc.assert(
    fc.property(fc.array(piece, { maxLength: 12 }), (parts) => {
      const text = parts.join('');
      assert.equal(kubeletExpand(text, defined), portedExpand(text, defined), JSON.stringify(text));
    }),
    { numRuns: 2000 },
  );
  for (const [text, want] of [
    ['$(A)-$$(A)-$(C)-$A-$', 'x-$(A)-$(C)-$A-$'],
    ['$(A', '$(A'],
    ['$(B)', '$(A)'],
    ['', ''],
    ['no dollar', 'no dollar'],
  ] as const)
    assert.equal(kubeletExpand(text, defined), want, text);
});

const R = { requests: { cpu: '100m', memory: '64Mi' }, limits: { memory: '64Mi' } };
const base = (extra: Partial<Step>): Step => ({ name: 's', image: 'alpine:3.19.1', resources: R, ...extra });

test('env values expand in order from the plain values before them; command and args from all', () => {
  const view = kubeletView(
    base({
      env: {
        A: 'ghp_',
        TOKEN: { secretRef: { secret: 'gh', key: 'token' } },
        B: '$(A)abc',
        C: '$(D)',
        D: 'late',
        E: '$$(A) $(TOKEN)',
      },
      command: ['sh', '-c', 'echo $(B) $(D)'],
      args: ['$(C)', '$$'],
    }),
  );
  assert.deepEqual(view.env, {
    A: 'ghp_',
    TOKEN: { secretRef: { secret: 'gh', key: 'token' } },
    B: 'ghp_abc',
    C: '$(D)',
    D: 'late',
    E: '$(A) $(TOKEN)',
  });
  assert.deepEqual(view.command, ['sh', '-c', 'echo ghp_abc late']);
  assert.deepEqual(view.args, ['$(D)', '$']);
});

test('sidecars and init containers are expanded from their own variables', () => {
  const view = kubeletView(
    base({
      env: { A: 'main' },
      sidecars: [{ name: 'sc', image: 'x:1', env: { A: 'side', B: '$(A)' }, args: ['$(A)'] }],
      initContainers: [{ name: 'ic', image: 'x:1', command: ['$(A)'] }],
    }),
  );
  assert.deepEqual(view.sidecars?.[0]?.env, { A: 'side', B: 'side' });
  assert.deepEqual(view.sidecars?.[0]?.args, ['side']);
  assert.deepEqual(view.initContainers?.[0]?.command, ['$(A)'], 'an init container has no A');
});

test('a step with no $ in what the kubelet expands is given back as it is', () => {
  const step = base({ env: { A: 'x' }, command: ['echo'], args: ['a'] });
  assert.equal(kubeletView(step), step);
});
