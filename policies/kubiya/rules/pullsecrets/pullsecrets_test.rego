package kubiya.rules.pullsecrets_test

import data.kubiya.rules.pullsecrets

settings := {"pullSecrets": {"allowed": [{"name": "acme-ghcr", "registries": ["ghcr.io/acme"]}, {"name": "any-registry"}]}}

codes(step) := cs if {
	cs := {v.code | some v in pullsecrets.violations} with input as {"step": step}
		with data.kubiya.settings as settings
}

test_none_named if codes({"image": "ghcr.io/acme/app:1"}) == set()

test_listed_and_used if codes({"image": "ghcr.io/acme/app:1", "imagePullSecrets": ["acme-ghcr"]}) == set()

test_untied_secret_any_image if codes({"image": "alpine:3", "imagePullSecrets": ["any-registry"]}) == set()

test_not_listed if codes({"image": "ghcr.io/acme/app:1", "imagePullSecrets": ["prod-registry"]}) == {"PULL_SECRET_NOT_ALLOWED"}

test_tied_secret_without_its_registry if {
	codes({"image": "ghcr.io/acme-tools/app:1", "imagePullSecrets": ["acme-ghcr"]}) == {"PULL_SECRET_REGISTRY_MISMATCH"}
	codes({"image": "docker.io/acme/app:1", "imagePullSecrets": ["acme-ghcr"]}) == {"PULL_SECRET_REGISTRY_MISMATCH"}
}

test_tied_secret_used_by_a_sidecar if {
	step := {"image": "alpine:3", "imagePullSecrets": ["acme-ghcr"], "sidecars": [{"name": "db", "image": "ghcr.io/acme/db:1"}]}
	codes(step) == set()
}

test_default_settings_allow_nothing if {
	cs := {v.code | some v in pullsecrets.violations} with input as {"step": {"image": "alpine:3", "imagePullSecrets": ["x"]}}
		with data.kubiya.settings as {}
	cs == {"PULL_SECRET_NOT_ALLOWED"}
}

test_malformed_settings_allow_nothing if {
	cs := {v.code | some v in pullsecrets.violations} with input as {"step": {"image": "alpine:3", "imagePullSecrets": ["x"]}}
		with data.kubiya.settings as {"pullSecrets": {"allowed": "x"}}
	cs == {"PULL_SECRET_NOT_ALLOWED"}
}

# REDTEAM-3 finding 7: a name listed twice (unchecked data) is a decision, never an evaluation error.
test_duplicate_names_deny_with_the_settings_key if {
	dup := {"pullSecrets": {"allowed": [{"name": "acme-registry"}, {"name": "acme-registry", "registries": ["ghcr.io/acme"]}]}}
	vs := {[v.code, v.message] | some v in pullsecrets.violations} with input as {"step": {"image": "alpine:3"}}
		with data.kubiya.settings as dup
	vs == {["POLICY_SETTINGS_INVALID", "pullSecrets.allowed names \"acme-registry\" more than once"]}
	cs := {v.code | some v in pullsecrets.violations} with input as {"step": {"image": "alpine:3", "imagePullSecrets": ["acme-registry"]}}
		with data.kubiya.settings as dup
	cs == {"POLICY_SETTINGS_INVALID", "PULL_SECRET_NOT_ALLOWED"}
}
