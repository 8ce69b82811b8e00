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
