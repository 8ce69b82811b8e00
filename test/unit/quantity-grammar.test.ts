// One quantity grammar at every door (src/units/units.ts): a workflow step's resources, the policy
// settings' caps and the runner's own config. Red team round 6: the three doors held three copies of
// the pattern and told a refused `1e3`, `+1` or `.5` it was "not a Kubernetes quantity" — Kubernetes
// accepts all three (k8s.io/apimachinery resource.Quantity: signs, a leading dot, decimal exponents);
// this runner reads a subset and refuses the rest, fail closed, and now says so.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { quantityField, QUANTITY_MESSAGE, quantityText } from '../../src/units/units.ts';
import { coreSettingsSchema } from '../../src/policy/settings.ts';
import { quantity as stepQuantity } from '../../src/validate/schema-fields.ts';
import { validate } from '../../src/validate/validate.ts';

/** Accepted by Kubernetes, refused here (outside the subset we read). */
const K8S_ONLY = ['1e3', '1E3', '+1', '.5', '1.', '5e-3', '1.5e2Mi', '-1'];
/** Not quantities at all. */
const NOT_QUANTITIES = ['', 'Gi', '1 Gi', '1gi', '1KI', '１', '0x10', '1Mi ', ' 1', '1..5', '1/2', '1Mb'];
/** Read by this runner. */
const READ = ['0', '1', '100m', '256Mi', '0.5', '1.25Gi', '8Gi', '4', '1k', '2M', '1Ei', '3E', '1Pi', '9T'];

const doors = [
  ['the step schema', stepQuantity],
  ['the shared text (32 characters)', quantityText],
  ['the config field', quantityField],
  ['the policy settings cap', coreSettingsSchema.shape.resources.unwrap().shape.maxMemory.unwrap()],
] as const;

describe('one quantity grammar at every door', () => {
  for (const [door, schema] of doors) {
    test(`${door}: the subset is read, the rest refused with the message that says what is read`, () => {
      for (const q of READ) assert.ok(schema.safeParse(q).success, `${door} reads ${q}`);
      for (const q of [...K8S_ONLY, ...NOT_QUANTITIES]) {
        const r = schema.safeParse(q);
        assert.equal(r.success, false, `${door} refuses ${JSON.stringify(q)}`);
        if (!r.success) assert.equal(r.error.issues[0]?.message, QUANTITY_MESSAGE, q);
      }
    });
  }

  test('the message names the form read and what is not read', () => {
    assert.match(QUANTITY_MESSAGE, /Kubernetes quantity/);
    assert.match(QUANTITY_MESSAGE, /no sign, leading dot or exponent/);
  });

  test('a workflow with `memory: 1e3` is refused with that message at its path', () => {
    const r = validate({
      id: 'q',
      name: 'q',
      runId: 'r',
      steps: [{ name: 's', image: 'python:3.11', resources: { limits: { memory: '1e3' } } }],
    });
    assert.equal(r.ok, false);
    if (!r.ok) {
      assert.equal(r.error.code, 'VALIDATE_SCHEMA');
      assert.ok(r.error.message.includes('no sign, leading dot or exponent'), r.error.message);
    }
  });
});
