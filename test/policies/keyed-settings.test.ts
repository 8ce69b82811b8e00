import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { loadEngine, type BundleFiles } from '../../src/adapters/opa-wasm.ts';
import { evaluate, policyInput } from '../../src/evaluate/evaluate.ts';
import { buildPod } from '../../src/pod/build.ts';
import { validate } from '../../src/validate/validate.ts';
import { KEYED_LISTS, settingsWith } from '../support/keyed-settings.ts';
import { shippedBundle } from '../support/shipped-bundle.ts';
import { STEP_RESOURCES as R, TEST_POD_CONTEXT as ctx } from '../support/pod-context.ts';

/**
 * REDTEAM-3 finding 7 through the compiled WASM: settings with a repeated key in a keyed list,
 * loaded WITHOUT the schema check (the schema refuses them: test/unit/settings-keyed.test.ts), are
 * still a decision for every step — never POLICY_EVAL_ERROR ("object insert conflict" before) —
 * and a list the Rego keys denies with POLICY_SETTINGS_INVALID naming the settings key.
 */

let bundle: BundleFiles;
before(async () => {
  bundle = await shippedBundle();
});

const STEPS: readonly Record<string, unknown>[] = [
  { name: 's', image: 'python:3.11', resources: R },
  { name: 's', image: 'python:3.11', resources: R, serviceAccount: 'deployer' },
  { name: 's', image: 'ghcr.io/acme/app:1', resources: R, imagePullSecrets: ['acme-registry'] },
  { name: 's', image: 'python:3.11', resources: R, nodeSelector: { pool: 'gpu' } },
];

test(`a repeated key in each keyed list (${KEYED_LISTS.length}), loaded unchecked: every step is decided, the Rego-keyed lists deny naming the key`, async () => {
  const defaults = (bundle.data as { kubiya: { settings: Record<string, unknown> } }).kubiya.settings;
  for (const k of KEYED_LISTS) {
    for (const entries of [
      [k.a, k.b],
      [k.a, k.a],
    ]) {
      const engine = await loadEngine({
        ...bundle,
        data: { kubiya: { settings: { ...defaults, ...settingsWith(k, entries) } } },
      });
      for (const step of STEPS) {
        const wf = validate({ id: 'wf', name: 'n', runId: 'run', steps: [step] });
        assert.ok(wf.ok, JSON.stringify(!wf.ok && wf.error));
        const r = evaluate(
          policyInput('r', wf.value, wf.value.steps[0]!, buildPod(wf.value, wf.value.steps[0]!, ctx)),
          engine,
        );
        assert.notEqual(r.kind, 'error', `${k.section}.${k.list} ${JSON.stringify(step)}: ${JSON.stringify(r)}`);
        if (r.kind === 'error') continue;
        const named = r.decision.violations.filter(
          (v) => v.code === 'POLICY_SETTINGS_INVALID' && v.message.includes(`${k.section}.${k.list} names`),
        );
        if (k.section !== 'placement') {
          assert.equal(r.kind, 'deny', `${k.section}.${k.list}: fail closed`);
          assert.equal(named.length, 1, JSON.stringify(r.decision.violations));
        }
      }
    }
  }
});
