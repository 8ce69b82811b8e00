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

codes_with(s, image) := cs if {
	cs := {v.code | some v in images.violations} with input as {"step": {"name": "a", "image": image}}
		with data.kubiya.settings as s
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

test_digest_is_pinned if codes({"name": "a", "image": "ghcr.io/org/tool@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}) == set()

test_registry_with_port if codes({"name": "a", "image": "localhost:5000/team/app:2"}) == {"IMAGE_REGISTRY_NOT_ALLOWED"}

test_invalid_reference_has_its_own_code if {
	codes({"name": "a", "image": "ghcr.io/Org/tool:1"}) == {"IMAGE_REFERENCE_INVALID"}
	codes({"name": "a", "image": "ghcr.io/org/../tool:1"}) == {"IMAGE_REFERENCE_INVALID"}
	codes({"name": "a", "image": "ghcr.io/org/tool@sha256:0123"}) == {"IMAGE_REFERENCE_INVALID"}
	codes({"name": "a", "image": 7}) == {"IMAGE_REFERENCE_INVALID"}
}

test_deny_list_matches_every_spelling if {
	codes({"name": "a", "image": "evil/tool:1.0"}) == set()
	codes({"name": "a", "image": "evil-twin:1.0"}) == set()
	every image in ["evil:1.0", "docker.io/evil:1.0", "library/evil:1.0", "index.docker.io/library/evil:2", "docker.io/library/evil:1"] {
		codes({"name": "a", "image": image}) == {"IMAGE_DENIED"}
	}
}

test_allow_prefix_on_path_boundary if {
	s := {"images": {"allowedRegistries": ["ghcr.io/acme"]}}
	codes_with(s, "ghcr.io/acme/tool:1.0") == set()
	codes_with(s, "ghcr.io/acme-tools/x:1.0") == {"IMAGE_REGISTRY_NOT_ALLOWED"}
	codes_with(s, "ghcr.io/other/acme:1.0") == {"IMAGE_REGISTRY_NOT_ALLOWED"}
}

test_allow_exact_repository if {
	s := {"images": {"allowedRegistries": ["docker.io/library/python", "amazon/aws-cli"]}}
	codes_with(s, "python:3.11") == set()
	codes_with(s, "index.docker.io/library/python:3.11") == set()
	codes_with(s, "docker.io/amazon/aws-cli:2") == set()
	codes_with(s, "python-extra:1") == {"IMAGE_REGISTRY_NOT_ALLOWED"}
	codes_with(s, "amazon/other:1") == {"IMAGE_REGISTRY_NOT_ALLOWED"}
}

test_index_docker_io_alias_in_data if codes_with({"images": {"allowedRegistries": ["index.docker.io"]}}, "python:3.11") == set()

test_unparseable_deny_entry_denies if {
	cs := codes_with({"images": {"allowedRegistries": ["docker.io"], "deniedImages": ["evil:1.0"]}}, "python:3.11")
	cs == {"POLICY_SETTINGS_INVALID"}
}

test_unparseable_allow_entry_allows_nothing if {
	codes_with({"images": {"allowedRegistries": ["docker.io/*", "docker.io:latest"]}}, "python:3.11") == {"IMAGE_REGISTRY_NOT_ALLOWED"}
	codes_with({"images": {"allowedRegistries": "docker.io"}}, "python:3.11") == {"IMAGE_REGISTRY_NOT_ALLOWED"}
	codes_with({"images": ["docker.io"]}, "python:3.11") == {"IMAGE_REGISTRY_NOT_ALLOWED"}
}

test_digest_required if {
	s := object.union(settings, {"images": object.union(settings.images, {"requireDigest": true})})
	codes_with(s, "python:3.11") == {"IMAGE_DIGEST_REQUIRED"}
}

# A tightening flag stays on for anything but false: "true" (a string) still requires a digest.
test_digest_required_strictly if {
	every flag in ["true", "false", 1, null] {
		s := object.union(settings, {"images": object.union(settings.images, {"requireDigest": flag})})
		codes_with(s, "python:3.11") == {"IMAGE_DIGEST_REQUIRED"}
	}
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

test_deny_list_in_every_container if {
	step := {"name": "a", "image": "python:3.11", "sidecars": [{"name": "s", "image": "docker.io/evil:1"}], "initContainers": [{"name": "i", "image": "library/evil:2"}]}
	vs := {[v.code, v.path] | some v in images.violations} with input as {"step": step}
		with data.kubiya.settings as settings
	vs == {["IMAGE_DENIED", "step.sidecars[0].image"], ["IMAGE_DENIED", "step.initContainers[0].image"]}
}

test_enforcement_action_from_data if {
	vs := [v.action | some v in images.violations] with input as {"step": {"name": "a", "image": "python:latest"}}
		with data.kubiya.settings as object.union(settings, {"enforcement": {"IMAGE_TAG_NOT_PINNED": "warn"}})
	vs == ["warn"]
}
