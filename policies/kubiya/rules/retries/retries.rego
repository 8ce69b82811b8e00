# METADATA
# title: Retries
# description: |
#   A step's retries (issue 19 §5): how many more attempts a step may ask for after a failed one,
#   and which attempt may run. Every attempt is evaluated on its own (input.attempt is 1, 2, ...),
#   so lowering the cap also stops the further attempts of a run already under way.
#   Settings: data.kubiya.settings.retries.maxRetries (default 0: a step that asks for retries is
#   denied until the security team allows some).
package kubiya.rules.retries

import data.kubiya.lib

settings := lib.section("retries")

# The cap: maxRetries when it is a number, 0 when it is absent or of another type (fail closed).
max_retries := lib.number(settings, "maxRetries", 0)

asked := object.get(object.get(input.step, "retries", {}), "limit", 0)

violations contains v if {
	asked > max_retries
	v := lib.violation("retries", "RETRIES_OVER_CAP", "step.retries.limit", sprintf("step asks for %v retries; the cap is %v", [asked, max_retries]))
}

violations contains v if {
	attempt := object.get(input, "attempt", 1)
	attempt > max_retries + 1
	v := lib.violation("retries", "RETRIES_OVER_CAP", "attempt", sprintf("attempt %v is over the cap of %v retries", [attempt, max_retries]))
}
