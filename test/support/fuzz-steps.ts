/**
 * Fuzz arbitraries for the step fields of issue 19 items 4–6 (retries, when, outputs): mostly
 * near-valid, with the hostile spellings each field's parser must refuse with a code.
 */
import fc from 'fast-check';

/** `retries`: in and out of bounds, wrong types, unknown keys. */
export const retriesSpec: fc.Arbitrary<unknown> = fc.oneof(
  fc.record(
    {
      limit: fc.oneof(fc.integer({ min: -2, max: 12 }), fc.constant('2'), fc.double()),
      backoff: fc.oneof(fc.constantFrom('1s', '10s', '0s', '1h30m', 'soon', '-5s', '8d'), fc.integer()),
      factor: fc.integer({ min: -1, max: 6 }),
      onError: fc.constant('retry'),
    },
    { requiredKeys: ['limit'] },
  ),
  fc.constantFrom(3, null, 'always', [], {}),
);

/** `when`: well-formed conditions over likely step names, token soup, and JavaScript an attacker tries. */
export const whenSpec: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    "steps.step.phase == 'Succeeded'",
    "steps.a.phase != 'Skipped' && true",
    "steps.step.outputs.result in ['a', 'b']",
    "steps.step.outputs.out notin ['x']",
    "steps.step.phase == 'Succeded'",
    'process.exit(1)',
    "constructor.constructor('return this')()",
    '`${1}`',
    "steps.__proto__.phase == 'x'",
    "steps.step.outputs.__proto__ == 'x'",
    '',
  ),
  fc
    .array(
      fc.constantFrom(
        'steps.step.phase',
        "'Succeeded'",
        '==',
        '!=',
        '&&',
        '||',
        '!',
        '(',
        ')',
        'true',
        'in',
        '[',
        ']',
        ',',
      ),
      { maxLength: 40 },
    )
    .map((t) => t.join(' ')),
  fc.string({ maxLength: 64 }),
  fc.integer(),
);

/** `outputs`: declared names (valid, duplicated, not identifiers, too many), secret flags of the wrong type. */
export const outputsSpec: fc.Arbitrary<unknown> = fc.oneof(
  fc.array(
    fc.record(
      {
        name: fc.constantFrom('result', 'version', 'token', 'a-b', '', '__proto__', 'x'.repeat(64)),
        secret: fc.oneof(fc.boolean(), fc.constant('true')),
      },
      { requiredKeys: ['name'] },
    ),
    { maxLength: 18 },
  ),
  fc.constantFrom(null, 'result', {}),
);

/** Arguments and env values with output references, well-formed or not. */
export const outputRefText: fc.Arbitrary<string> = fc.constantFrom(
  '${steps.step.outputs.result}',
  '--v=${steps.a.outputs.version}',
  '${steps.step.outputs}',
  '${steps.STEP.outputs.x}',
  '${steps.step.outputs.token}${steps.step.outputs.token}',
  '$${steps.step.outputs.result}}',
);
