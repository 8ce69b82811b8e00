package kubiya.main_test

import data.kubiya.main

settings := {"images": {"allowedRegistries": ["docker.io"], "deniedImages": []}, "enforcement": {"IMAGE_TAG_NOT_PINNED": "warn"}}

test_allow_without_violations if {
	d := main.decision with input as {"step": {"name": "a", "image": "python:3.11"}} with data.kubiya.settings as settings
	d == {"allow": true, "violations": []}
}

test_warn_does_not_block if {
	d := main.decision with input as {"step": {"name": "a", "image": "python:latest"}} with data.kubiya.settings as settings
	d.allow == true
	count(d.violations) == 1
}

test_deny_blocks if {
	d := main.decision with input as {"step": {"name": "a", "image": "ghcr.io/x/y:1"}} with data.kubiya.settings as settings
	d.allow == false
}
