package kubiya.lib_test

import data.kubiya.lib

sha := concat("", ["sha256:", concat("", [c | some _ in numbers.range(1, 64); c := "a"])])

test_official_image_spellings_are_one_repository if {
	every ref in ["alpine:3.19.1", "library/alpine:3.19.1", "docker.io/alpine:3.19.1", "docker.io/library/alpine:3.19.1", "index.docker.io/library/alpine:3.19.1"] {
		lib.parse_image(ref).canonical == "docker.io/library/alpine:3.19.1"
	}
}

test_parse_fields if {
	lib.parse_image("localhost:5000/team/app:2") == {"registry": "localhost:5000", "repository": "team/app", "tag": "2", "digest": "", "canonical": "localhost:5000/team/app:2"}
	lib.parse_image("ghcr.io/acme/tool").canonical == "ghcr.io/acme/tool:latest"
	lib.parse_image(concat("@", ["alpine", sha])).canonical == concat("@", ["docker.io/library/alpine", sha])
	lib.parse_image(concat("@", ["alpine:3", sha])).canonical == concat("@", ["docker.io/library/alpine:3", sha])
	lib.parse_image("GHCR.IO/acme/tool:1").registry == "ghcr.io"
	lib.parse_image("localhost/app:1").registry == "localhost"
}

test_invalid_references if {
	every ref in [
		"ghcr.io/Acme/tool:1", "ghcr.io/acme/../tool:1", "ghcr.io/acme//tool:1", "x@sha256:abc",
		"x:-tag", "Registry/app:1", "[::1]:5000/x:1", "", 42, null,
		concat("", ["x:", concat("", [c | some _ in numbers.range(1, 129); c := "t"])]),
		concat("", [c | some _ in numbers.range(1, 64); c := "a"]),
	] {
		not lib.parse_image(ref)
	}
}

test_entries if {
	lib.parse_image_entry("ghcr.io") == {"registry": "ghcr.io", "path": ""}
	lib.parse_image_entry("index.docker.io") == {"registry": "docker.io", "path": ""}
	lib.parse_image_entry("ghcr.io/acme") == {"registry": "ghcr.io", "path": "acme"}
	lib.parse_image_entry("docker.io/library") == {"registry": "docker.io", "path": "library"}
	lib.parse_image_entry("docker.io/alpine") == {"registry": "docker.io", "path": "library/alpine"}
	lib.parse_image_entry("alpine") == {"registry": "docker.io", "path": "library/alpine"}
	every e in ["ghcr.io/acme/*", "ghcr.io/acme:1", "ghcr.io/Acme", "", 1, null] {
		not lib.parse_image_entry(e)
	}
}

test_entries_match_on_path_boundaries if {
	acme := lib.parse_image_entry("ghcr.io/acme")
	lib.image_entry_matches(acme, lib.parse_image("ghcr.io/acme/tool:1.0"))
	not lib.image_entry_matches(acme, lib.parse_image("ghcr.io/acme-tools/x:1.0"))
	alpine := lib.parse_image_entry("docker.io/library/alpine")
	lib.image_entry_matches(alpine, lib.parse_image("alpine:3"))
	not lib.image_entry_matches(alpine, lib.parse_image("alpine/git:2"))
}
