import { parseDuration, STEP_TIMEOUT_BOUNDS, type DurationBounds } from '../units/units.ts';

/**
 * A step's timeout (`"30m"`, `"1h30m"`, `"45s"` or a number of seconds) → seconds, through the one
 * parser in units/units.ts with the step bounds (1 s … 7 days). Validation has already refused
 * anything else, so a RangeError here is a bug, not an input error.
 */
export function durationSeconds(value: string | number, bounds: DurationBounds = STEP_TIMEOUT_BOUNDS): number {
  const parsed = parseDuration(value, bounds);
  if (!parsed.ok) throw new RangeError(`not a duration: ${parsed.message}`);
  return parsed.seconds;
}

/** A step's timeout in seconds: its own `timeout`, else the runner's default (runner.workflow.defaultTimeout). */
export function stepTimeoutSeconds(
  step: { readonly timeout?: string | number | undefined } | undefined,
  defaultSeconds: number,
): number {
  return step?.timeout !== undefined ? durationSeconds(step.timeout) : defaultSeconds;
}
