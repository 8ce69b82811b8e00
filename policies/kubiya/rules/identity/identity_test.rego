package kubiya.rules.identity_test

import data.kubiya.rules.identity

settings := {"serviceAccounts": {"allowed": [
	{"name": "deployer", "token": {"audiences": ["sts.amazonaws.com"], "maxExpirationSeconds": 1800}},
	{"name": "reader"},
]}}

token_volume(audience, seconds) := {"name": "t", "projected": {"sources": [{"serviceAccountToken": {"audience": audience, "expirationSeconds": seconds, "path": "token"}}]}}

pod(sa, volumes) := {"spec": {"serviceAccountName": sa, "automountServiceAccountToken": false, "volumes": volumes}}

codes(step, p) := cs if {
	cs := {v.code | some v in identity.violations} with input as {"step": step, "pod": p}
		with data.kubiya.settings as settings
}

test_no_account_asked if codes({}, pod("kubiya-workflow", [])) == set()

test_allowed_account if codes({"serviceAccount": "reader"}, pod("reader", [])) == set()

test_account_not_allowed if codes({"serviceAccount": "cluster-admin"}, pod("cluster-admin", [])) == {"SERVICE_ACCOUNT_NOT_ALLOWED"}

test_token_allowed if {
	step := {"serviceAccount": {"name": "deployer", "token": {"audience": "sts.amazonaws.com"}}}
	codes(step, pod("deployer", [token_volume("sts.amazonaws.com", 900)])) == set()
}

test_token_for_an_account_without_tokens if {
	step := {"serviceAccount": {"name": "reader", "token": {"audience": "sts.amazonaws.com"}}}
	codes(step, pod("reader", [token_volume("sts.amazonaws.com", 900)])) == {"SERVICE_ACCOUNT_TOKEN_NOT_ALLOWED"}
}

test_token_wrong_audience if {
	step := {"serviceAccount": {"name": "deployer", "token": {"audience": "https://kubernetes.default.svc"}}}
	codes(step, pod("deployer", [token_volume("https://kubernetes.default.svc", 900)])) == {"SERVICE_ACCOUNT_TOKEN_NOT_ALLOWED"}
}

test_token_too_long if {
	step := {"serviceAccount": {"name": "deployer", "token": {"audience": "sts.amazonaws.com", "expirationSeconds": 3600}}}
	codes(step, pod("deployer", [token_volume("sts.amazonaws.com", 3600)])) == {"SERVICE_ACCOUNT_TOKEN_TOO_LONG"}
}

test_token_without_audience_in_the_pod if {
	p := pod("deployer", [{"name": "t", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}}])

	# no audience: the API server's own; no lifetime: its default 3600 s, over this account's cap
	codes({}, p) == {"SERVICE_ACCOUNT_TOKEN_NOT_ALLOWED", "SERVICE_ACCOUNT_TOKEN_TOO_LONG"}
}

test_token_of_the_default_account if codes({}, pod("kubiya-workflow", [token_volume("sts.amazonaws.com", 900)])) == {"SERVICE_ACCOUNT_TOKEN_NOT_ALLOWED"}

test_legacy_automount_denied_when_set if {
	codes({}, {"spec": {"serviceAccountName": "reader"}}) == set()
	codes({}, {"spec": {"automountServiceAccountToken": null}}) == {"SERVICE_ACCOUNT_TOKEN_AUTOMOUNT"}
	codes({}, {"spec": {"automountServiceAccountToken": "false"}}) == {"SERVICE_ACCOUNT_TOKEN_AUTOMOUNT"}
	codes({}, {"spec": {"automountServiceAccountToken": true}}) == {"SERVICE_ACCOUNT_TOKEN_AUTOMOUNT"}
}

test_default_settings_allow_no_account if {
	cs := {v.code | some v in identity.violations} with input as {"step": {"serviceAccount": "x"}, "pod": pod("x", [])}
		with data.kubiya.settings as {}
	cs == {"SERVICE_ACCOUNT_NOT_ALLOWED"}
}

# REDTEAM-3 finding 7, the reported example: "deployer" twice (unchecked data) is a decision on
# every step, naming the settings key, never an evaluation error; the account is not allowed.
test_duplicate_names_deny_with_the_settings_key if {
	dup := {"serviceAccounts": {"allowed": [{"name": "deployer"}, {"name": "deployer", "token": {"audiences": ["x"]}}]}}
	vs := {[v.code, v.message] | some v in identity.violations} with input as {"step": {}, "pod": pod("kubiya-workflow", [])}
		with data.kubiya.settings as dup
	vs == {["POLICY_SETTINGS_INVALID", "serviceAccounts.allowed names \"deployer\" more than once"]}
	cs := {v.code | some v in identity.violations} with input as {"step": {"serviceAccount": "deployer"}, "pod": pod("deployer", [])}
		with data.kubiya.settings as dup
	cs == {"POLICY_SETTINGS_INVALID", "SERVICE_ACCOUNT_NOT_ALLOWED"}
}
