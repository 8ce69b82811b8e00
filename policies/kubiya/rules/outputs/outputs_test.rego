package kubiya.rules.outputs_test

import data.kubiya.rules.outputs

codes_of(step, settings) := cs if {
	cs := {v.code | some v in outputs.violations} with input as {"step": step}
		with data.kubiya.settings as settings
}

secret_step := {"name": "a", "outputs": [{"name": "tag"}, {"name": "tok", "secret": true}]}

test_public_outputs_always_allowed if codes_of({"name": "a", "outputs": [{"name": "tag"}]}, {}) == set()

test_no_outputs if codes_of({"name": "a"}, {}) == set()

test_secret_outputs_denied_by_default if codes_of(secret_step, {}) == {"OUTPUT_SECRET_NOT_ALLOWED"}

test_secret_outputs_allowed_by_settings if codes_of(secret_step, {"outputs": {"allowSecretOutputs": true}}) == set()

# Only exactly true relaxes the rule.
test_flag_of_the_wrong_type_fails_closed if {
	codes_of(secret_step, {"outputs": {"allowSecretOutputs": "true"}}) == {"OUTPUT_SECRET_NOT_ALLOWED"}
	codes_of(secret_step, {"outputs": []}) == {"OUTPUT_SECRET_NOT_ALLOWED"}
}
