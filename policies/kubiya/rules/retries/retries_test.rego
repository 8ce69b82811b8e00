package kubiya.rules.retries_test

import data.kubiya.rules.retries

codes_of(inp, settings) := cs if {
	cs := {v.code | some v in retries.violations} with input as inp
		with data.kubiya.settings as settings
}

capped := {"retries": {"maxRetries": 3}}

test_no_retries_asked_is_allowed_without_settings if codes_of({"step": {"name": "a"}, "attempt": 1}, {}) == set()

test_within_the_cap if codes_of({"step": {"retries": {"limit": 3}}, "attempt": 4}, capped) == set()

test_over_the_cap if codes_of({"step": {"retries": {"limit": 4}}, "attempt": 1}, capped) == {"RETRIES_OVER_CAP"}

# The default is 0: retries are denied until the settings allow some.
test_default_cap_is_zero if codes_of({"step": {"retries": {"limit": 1}}, "attempt": 1}, {}) == {"RETRIES_OVER_CAP"}

# A cap lowered while a run is under way stops its next attempt.
test_attempt_over_a_lowered_cap if {
	codes_of({"step": {"retries": {"limit": 3}}, "attempt": 3}, {"retries": {"maxRetries": 1}}) == {"RETRIES_OVER_CAP"}
}

# An input without attempt (an audit record written before retries existed, replayed) is attempt 1.
test_input_without_attempt_is_the_first if codes_of({"step": {"retries": {"limit": 1}}}, {"retries": {"maxRetries": 1}}) == set()

# A cap of the wrong type reads as 0 (fail closed), and "3" is not 3.
test_cap_of_the_wrong_type_fails_closed if {
	codes_of({"step": {"retries": {"limit": 1}}, "attempt": 1}, {"retries": {"maxRetries": "3"}}) == {"RETRIES_OVER_CAP"}
	codes_of({"step": {"retries": {"limit": 1}}, "attempt": 1}, {"retries": []}) == {"RETRIES_OVER_CAP"}
}
