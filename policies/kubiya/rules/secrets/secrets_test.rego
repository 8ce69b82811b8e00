package kubiya.rules.secrets_test

import data.kubiya.rules.secrets

settings := {"secrets": {"allowedSecrets": ["aws-credentials"]}}

vs(step) := out if {
	out := {[v.code, v.path] | some v in secrets.violations} with input as {"step": step}
		with data.kubiya.settings as settings
}

test_plain_env_is_not_a_secret if vs({"name": "s", "image": "x:1", "env": {"A": "b"}}) == set()

test_allowed_secret if vs({"name": "s", "image": "x:1", "env": {"K": {"secretRef": {"secret": "aws-credentials", "key": "k"}}}}) == set()

test_other_secret if {
	vs({"name": "s", "image": "x:1", "env": {"K": {"secretRef": {"secret": "prod-db", "key": "k"}}}}) == {["SECRET_NOT_ALLOWED", "step.env.K.secretRef.secret"]}
}

test_env_from if vs({"name": "s", "image": "x:1", "envFrom": [{"secret": "prod-db"}]}) == {["SECRET_NOT_ALLOWED", "step.envFrom[0].secret"]}

test_sidecar_secret if {
	step := {"name": "s", "image": "x:1", "sidecars": [{"name": "db", "image": "pg:15", "env": {"P": {"secretRef": {"secret": "root-pw", "key": "p"}}}}]}
	vs(step) == {["SECRET_NOT_ALLOWED", "step.sidecars[0].env.P.secretRef.secret"]}
}
