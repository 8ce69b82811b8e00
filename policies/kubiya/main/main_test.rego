package kubiya.main_test

import data.kubiya.main

settings := {
	"images": {"allowedRegistries": ["docker.io"], "deniedImages": []},
	"enforcement": {"IMAGE_TAG_NOT_PINNED": "warn", "RESOURCES_LIMIT_MISSING": "audit"},
	"resources": {"requireLimits": ["memory"]},
}

decide(step) := d if {
	d := main.decision with input as {"step": step, "pod": {"spec": {"containers": []}}, "workflow": {}}
		with data.kubiya.settings as settings
}

test_allow_without_violations if {
	decide({"name": "a", "image": "python:3.11", "resources": {"limits": {"memory": "1Gi"}}}) == {"allow": true, "violations": []}
}

test_warn_and_audit_do_not_block if {
	d := decide({"name": "a", "image": "python:latest"})
	d.allow == true
	{v.action | some v in d.violations} == {"warn", "audit"}
}

test_deny_blocks if {
	d := decide({"name": "a", "image": "ghcr.io/x/y:1", "resources": {"limits": {"memory": "1Gi"}}})
	d.allow == false
	[v.code | some v in d.violations] == ["IMAGE_REGISTRY_NOT_ALLOWED"]
}

test_missing_settings_deny if {
	d := main.decision with input as {"step": {"name": "a", "image": "python:3.11"}, "pod": {"spec": {"containers": []}}, "workflow": {}}
		with data.kubiya.settings as null
	d.allow == false
	"POLICY_SETTINGS_MISSING" in {v.code | some v in d.violations}
}

test_every_package_feeds_the_decision if {
	step := {
		"name": "a", "image": "ghcr.io/x/y:1",
		"egress": [{"host": "pastebin.com", "ports": [443]}],
		"envFrom": [{"secret": "prod-db"}],
	}
	pod := {"spec": {"containers": [{"name": "step", "securityContext": {"privileged": true}}], "volumes": [{"name": "h", "nfs": {}}]}}
	d := main.decision with input as {"step": step, "pod": pod, "workflow": {}}
		with data.kubiya.settings as settings
	{v.policy | some v in d.violations} == {"images", "privilege", "resources", "egress", "secrets", "volumes"}
}
