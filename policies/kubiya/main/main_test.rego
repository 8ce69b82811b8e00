package kubiya.main_test

import data.kubiya.main

settings := {"images": {"allowedRegistries": ["docker.io"]}}

deny_v := {"code": "X_DENY", "message": "m", "path": "step", "policy": "a", "action": "deny"}

warn_v := {"code": "X_WARN", "message": "m", "path": "step", "policy": "b", "action": "warn"}

audit_v := {"code": "X_AUDIT", "message": "m", "path": "step", "policy": "b", "action": "audit"}

# The rule packages are replaced by stubs: main's job is only to gather and decide.
decide(rules) := d if {
	d := main.decision with data.kubiya.rules as rules
		with data.kubiya.settings as settings
}

test_allow_without_violations if decide({"a": {"violations": set()}}) == {"allow": true, "violations": [], "egress": []}

test_egress_destinations_are_passed_through if {
	d := decide({"egress": {"violations": set(), "destinations": [{"cidr": "10.0.0.0/24", "ports": [5432]}]}})
	d.egress == [{"cidr": "10.0.0.0/24", "ports": [5432]}]
}

test_warn_and_audit_do_not_block if {
	d := decide({"b": {"violations": {warn_v, audit_v}}})
	d.allow == true
	count(d.violations) == 2
}

test_deny_blocks if {
	d := decide({"a": {"violations": {deny_v}}, "b": {"violations": {warn_v}}})
	d.allow == false
	{v.code | some v in d.violations} == {"X_DENY", "X_WARN"}
}

test_packages_without_violations_are_ignored if decide({"helpers": {"x": 1}}).allow == true

test_missing_settings_deny if {
	d := main.decision with data.kubiya.rules as {}
		with data.kubiya.settings as null
	d.allow == false
	"POLICY_SETTINGS_MISSING" in {v.code | some v in d.violations}
}

test_every_rule_package_feeds_the_decision if {
	step := {
		"name": "a", "image": "ghcr.io/x/y:1",
		"egress": [{"host": "pastebin.com", "ports": [443]}],
		"envFrom": [{"secret": "prod-db"}],
	}
	pod := {"spec": {"containers": [{"name": "step", "securityContext": {"privileged": true}}], "volumes": [{"name": "h", "nfs": {}}]}}
	d := main.decision with input as {"step": step, "pod": pod, "workflow": {}}
		with data.kubiya.settings as object.union(settings, {"resources": {"requireLimits": ["memory"]}})
	{"images", "privilege", "resources", "egress", "secrets", "volumes"} - {v.policy | some v in d.violations} == set()
}

test_settings_sections_of_the_wrong_type_deny if {
	every bad in [[], "x", null, 1, true] {
		d := main.decision with data.kubiya.rules as {}
			with data.kubiya.settings as {"egress": bad}
		d.allow == false
		"POLICY_SETTINGS_INVALID" in {v.code | some v in d.violations}
	}
}
