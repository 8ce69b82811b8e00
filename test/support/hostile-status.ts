// A Kubernetes Status answer with one value placed everywhere an API server or a webhook may write
// text (its reason, message, details.name, each cause's field, reason and message): what the
// apiCause / refused class tests throw at the adapters.
import fc from 'fast-check';

/** How each place is filled besides the value itself (the reasons and fields a test also allows). */
export interface StatusPlaces {
  readonly reason: fc.Arbitrary<string>;
  readonly message: fc.Arbitrary<string>;
  readonly causeField: fc.Arbitrary<string>;
  readonly causeReason: fc.Arbitrary<string>;
}

/**
 * A Status object (kind Status) holding `value` in every text place, each place either the value or
 * one of `places`' alternatives; the causes 0–8, each holding it in its message.
 */
export function statusHolding(value: string, places: StatusPlaces): fc.Arbitrary<Record<string, unknown>> {
  return fc.record({
    kind: fc.constant('Status'),
    reason: places.reason,
    message: places.message,
    details: fc.record({
      name: fc.constant(value),
      causes: fc.array(
        fc.record({ field: places.causeField, reason: places.causeReason, message: fc.constant(value) }),
        { maxLength: 8 },
      ),
    }),
  });
}
