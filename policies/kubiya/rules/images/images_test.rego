package kubiya.rules.images_test

import data.kubiya.rules.images

settings := {
	"images": {"allowedRegistries": ["docker.io", "ghcr.io"], "deniedImages": ["docker.io/library/evil"]},
	"enforcement": {},
}

codes(step) := cs if {
	cs := {v.code | some v in images.violations} with input as {"step": step}
		with data.kubiya.settings as settings
}

test_allowed_pinned_image if codes({"name": "a", "image": "python:3.11-slim"}) == set()

test_registry_is_parsed_not_prefixed if {
	# "docker.io.evil.com" starts with an allowed string but is another registry.
	codes({"name": "a", "image": "docker.io.evil.com/x:1"}) == {"IMAGE_REGISTRY_NOT_ALLOWED"}
}

test_latest_and_untagged_denied if {
	codes({"name": "a", "image": "python:latest"}) == {"IMAGE_TAG_NOT_PINNED"}
	codes({"name": "a", "image": "ghcr.io/org/tool"}) == {"IMAGE_TAG_NOT_PINNED"}
}

test_digest_is_pinned if codes({"name": "a", "image": "ghcr.io/org/tool@sha256:0123"}) == set()

test_registry_with_port if {
	images.parse("localhost:5000/team/app:2").registry == "localhost:5000"
	codes({"name": "a", "image": "localhost:5000/team/app:2"}) == {"IMAGE_REGISTRY_NOT_ALLOWED"}
}

test_localhost_registry if images.parse("localhost/app:1").registry == "localhost"

test_parse_official_image if {
	images.parse("python:3.11") == {"registry": "docker.io", "repository": "library/python", "tag": "3.11", "digest": ""}
	images.parse("org/app:1").repository == "org/app"
}

test_deny_list if codes({"name": "a", "image": "evil:1.0"}) == {"IMAGE_DENIED"}

test_digest_required if {
	s := object.union(settings, {"images": object.union(settings.images, {"requireDigest": true})})
	cs := {v.code | some v in images.violations} with input as {"step": {"name": "a", "image": "python:3.11"}}
		with data.kubiya.settings as s
	cs == {"IMAGE_DIGEST_REQUIRED"}
}

test_sidecars_and_init_containers_checked if {
	step := {
		"name": "a", "image": "python:3.11",
		"sidecars": [{"name": "db", "image": "quay.io/pg:15"}],
		"initContainers": [{"name": "dl", "image": "aws-cli:latest"}],
	}
	vs := {[v.code, v.path] | some v in images.violations} with input as {"step": step}
		with data.kubiya.settings as settings
	vs == {["IMAGE_REGISTRY_NOT_ALLOWED", "step.sidecars[0].image"], ["IMAGE_TAG_NOT_PINNED", "step.initContainers[0].image"]}
}

test_enforcement_action_from_data if {
	vs := [v.action | some v in images.violations] with input as {"step": {"name": "a", "image": "python:latest"}}
		with data.kubiya.settings as object.union(settings, {"enforcement": {"IMAGE_TAG_NOT_PINNED": "warn"}})
	vs == ["warn"]
}
