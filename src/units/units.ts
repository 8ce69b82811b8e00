import { z } from 'zod';

/**
 * Units as users write them, parsed in ONE place: durations (step timeouts, config intervals) and
 * Kubernetes quantities (resources, sizes). The workflow schema, the config schema and the pod
 * builder all use these functions, so a bound holds in every spelling (issue 14 §4).
 */

/** Bounds of a duration, in whole seconds, inclusive. */
export interface DurationBounds {
  readonly min: number;
  readonly max: number;
}

/** The largest value the API server takes for activeDeadlineSeconds (int32) and our ceiling for any duration. */
export const MAX_DURATION_SECONDS = 2 ** 31 - 1;

/** A step's timeout: at least one second, at most seven days (the numeric and string forms alike). */
export const STEP_TIMEOUT_BOUNDS: DurationBounds = Object.freeze({ min: 1, max: 7 * 24 * 3600 });

/**
 * The longest a Node.js timer waits, in milliseconds (2^31 − 1, ~24.8 days): a longer delay is
 * replaced by 1 ms with a TimeoutOverflowWarning (https://nodejs.org/api/timers.html#settimeoutcallback-delay-args),
 * so a timer set from a longer duration fires at once, again and again (red team 17: `jwksRefresh:
 * 720h` made 1,825 JWKS fetches in 3 s).
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** The longest configured duration, in whole seconds (2,147,483 s = 24 d 20 h 31 m 23 s): every one sets a timer. */
export const MAX_TIMER_SECONDS = Math.floor(MAX_TIMER_MS / 1000);

/** Durations that must be positive (intervals, timeouts): zero would mean "never" or a busy loop. */
export const POSITIVE_DURATION: DurationBounds = Object.freeze({ min: 1, max: MAX_TIMER_SECONDS });

/** Durations where zero is meaningful (a tolerance, a grace period). */
export const ANY_DURATION: DurationBounds = Object.freeze({ min: 0, max: MAX_TIMER_SECONDS });

/** `ms` as a timer may wait it: within 0 … MAX_TIMER_MS (a NaN is 0). A timer woken early recomputes its wait. */
export function timerDelay(ms: number): number {
  return ms > 0 ? Math.min(ms, MAX_TIMER_MS) : 0;
}

/**
 * The one duration grammar: `<h>h<m>m<s>s` with each part optional but at least one present, in
 * that order, whole non-negative decimal numbers, lower-case units, nothing else — no sign, no
 * fraction, no exponent, no whitespace, no ISO 8601 (`PT1H`), no `ms`. Or a JSON number: whole
 * seconds. At most 32 characters, so no digit string can overflow before the bound check.
 */
const DURATION = /^(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?$/;
const MAX_DURATION_TEXT = 32;

export type DurationParse =
  { readonly ok: true; readonly seconds: number } | { readonly ok: false; readonly message: string };

/**
 * A duration (`"30m"`, `"1h30m"`, `"45s"`, or a number of seconds) → whole seconds, checked against
 * `bounds`. Never throws; the message never repeats the input (it may be hostile).
 */
export function parseDuration(value: unknown, bounds: DurationBounds): DurationParse {
  let seconds: number;
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) return { ok: false, message: 'must be a whole number of seconds' };
    seconds = value;
  } else if (typeof value === 'string') {
    const match = value.length <= MAX_DURATION_TEXT ? DURATION.exec(value) : null;
    if (match === null || value.length === 0)
      return {
        ok: false,
        message:
          'must be a duration such as 30s, 5m or 1h30m (whole numbers, lower-case h/m/s, in that order) or a number of seconds',
      };
    const [, h = '0', m = '0', s = '0'] = match;
    seconds = Number(h) * 3600 + Number(m) * 60 + Number(s);
  } else {
    return { ok: false, message: 'must be a duration string or a number of seconds' };
  }
  // Object.is: -0 is a number JSON can carry; it is not a duration of zero seconds users meant.
  if (!Number.isFinite(seconds) || seconds < bounds.min || seconds > bounds.max || Object.is(seconds, -0)) {
    return { ok: false, message: `must be between ${bounds.min} and ${bounds.max} seconds` };
  }
  return { ok: true, seconds };
}

/** A zod field: a duration within `bounds`, as written (string or number) → whole seconds. */
export function durationField(bounds: DurationBounds = ANY_DURATION): z.ZodType<number, number | string> {
  return z.union([z.number(), z.string()]).transform((v, ctx) => {
    const parsed = parseDuration(v, bounds);
    if (parsed.ok) return parsed.seconds;
    ctx.addIssue({ code: 'custom', message: parsed.message });
    return z.NEVER;
  });
}

/** A zod field that checks a duration within `bounds` but keeps it as written (the signed workflow). */
export function durationText(bounds: DurationBounds): z.ZodType<number | string, number | string> {
  return z.union([z.number(), z.string()]).superRefine((v, ctx) => {
    const parsed = parseDuration(v, bounds);
    if (!parsed.ok) ctx.addIssue({ code: 'custom', message: parsed.message });
  });
}

const QUANTITY = /^([0-9]+(?:\.[0-9]+)?)(m|k|Ki|Mi|Gi|Ti|Pi|Ei|M|G|T|P|E)?$/;
const SUFFIX: Readonly<Record<string, number>> = {
  '': 1,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/**
 * A Kubernetes quantity as we accept it (`100m`, `256Mi`, `1`, `1.5Gi`; no sign, no exponent) →
 * its value in base units (cores, bytes), or undefined when it is not one. A float: good enough to
 * compare and to tell zero from non-zero, not to do arithmetic the API server would agree with.
 */
export function quantityValue(q: string): number | undefined {
  const match = q.length <= 32 ? QUANTITY.exec(q) : null;
  if (match === null) return undefined;
  const [, number = '', suffix = ''] = match;
  return Number(number) * (SUFFIX[suffix] ?? Number.NaN);
}

/** True for every spelling of zero (`0`, `0Mi`, `0.0Gi`, `0m`) and for no other quantity. */
export function isZeroQuantity(q: string | number): boolean {
  return typeof q === 'number' ? q === 0 : quantityValue(q) === 0;
}

/**
 * What a refused quantity is told: the subset of the Kubernetes quantity grammar
 * (k8s.io/apimachinery/pkg/api/resource, `<quantity> ::= <signedNumber><suffix>`) this runner reads.
 * Kubernetes also accepts a sign, a leading dot and a decimal exponent (`+1`, `.5`, `1e3`): refused
 * here, fail closed (red team round 6: the old text called them "not a Kubernetes quantity").
 */
export const QUANTITY_MESSAGE =
  'must be a Kubernetes quantity in the form this runner reads: digits, an optional fraction and an optional suffix (m, k, M…E, Ki…Ei), such as 100m, 256Mi or 1 (no sign, leading dot or exponent)';

/** A quantity's text as this runner reads it (QUANTITY_MESSAGE): at most 32 characters. */
export const quantityText = z.string().max(32).regex(QUANTITY, QUANTITY_MESSAGE);

/** A quantity kept as written (the chart and the API server take it as a string). */
export const quantityField = z.string().regex(QUANTITY, QUANTITY_MESSAGE);
