package kubiya.lib_test

import data.kubiya.lib

sha := concat("", ["sha256:", concat("", [c | some _ in numbers.range(1, 64); c := "a"])])

test_official_image_spellings_are_one_repository if {
	every ref in [
		"alpine:3.19.1", "library/alpine:3.19.1", "docker.io/alpine:3.19.1", "docker.io/library/alpine:3.19.1", "index.docker.io/library/alpine:3.19.1",
		"registry-1.docker.io/library/alpine:3.19.1", "registry.hub.docker.com/alpine:3.19.1", "Registry-1.Docker.IO/alpine:3.19.1",
	] {
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

# The default port names the same registry as no port: refused, so "ghcr.io:443/acme/x" cannot
# slip past a deny entry "ghcr.io/acme"; other ports are other registries, within 1..65535.
test_registry_ports if {
	lib.parse_image("ghcr.io:8443/acme/x:1").registry == "ghcr.io:8443"
	lib.parse_image("localhost:65535/x:1").registry == "localhost:65535"
	lib.parse_image_entry("ghcr.io:8443/acme") == {"registry": "ghcr.io:8443", "path": "acme"}
	every ref in ["ghcr.io:443/acme/x:1", "GHCR.IO:443/acme/x:1", "docker.io:443/alpine:3", "ghcr.io:0443/acme/x:1", "ghcr.io:65536/x:1", "ghcr.io:0/x:1", "localhost:00/x:1"] {
		not lib.parse_image(ref)
	}
	every e in ["ghcr.io:443", "ghcr.io:443/acme", "docker.io:443/library", "ghcr.io:0443"] {
		not lib.parse_image_entry(e)
	}
}

test_docker_hub_alias_entries if {
	lib.parse_image_entry("registry-1.docker.io/alpine") == {"registry": "docker.io", "path": "library/alpine"}
	every e in ["registry-1.docker.io", "registry.hub.docker.com", "index.docker.io", "docker.io"] {
		lib.parse_image_entry(e) == {"registry": "docker.io", "path": ""}
	}
	every e in ["registry-1.docker.io/library", "registry.hub.docker.com/library"] {
		lib.parse_image_entry(e) == {"registry": "docker.io", "path": "library"}
	}
}

# entry_grammar (image_reference_pattern on e + "/x", issue #20) accepts exactly what
# image_entry_pattern accepts.
test_entry_grammar_is_entry_pattern if {
	every e in [
		"ghcr.io", "GHCR.IO", "ghcr.io:5000", "localhost", "localhost:5000", "localhost:5000/a", "ghcr.io/acme",
		"ghcr.io/acme/tool", "ghcr.io/Acme", "ghcr.io/acme/", "ghcr.io//acme", "/acme", "acme", "acme/tool", "a__b",
		"a___b", "a--b", "a.b_c", "a-", "-a", "a:1", "a:1/b", "ghcr.io/acme:1", "ghcr.io/acme@sha256:ab", "a@b",
		"ghcr.io:/a", "ghcr.io:x/a", "Acme", "ACME/tool", "a..b", "a.b.", ".a", "", "x", "a/x", "é", "a b", "a\n",
		"ghcr.io/acme/x/y/z", "1.2.3.4:5/a", "[::1]:5000/a",
	] {
		entry(e) == entry_pattern_accepts(e)
	}
}

default entry(_) := false

entry(e) if lib.entry_grammar(e)

default entry_pattern_accepts(_) := false

entry_pattern_accepts(e) if regex.match(lib.image_entry_pattern, e)

# reference_parts (string tests, issue #20) splits exactly as image_reference_pattern's groups.
test_reference_parts_is_reference_pattern if {
	every ref in [
		"alpine", "alpine:3", "alpine:3@sha256:ab", "alpine@sha256:ab", "ghcr.io/acme/tool:1.2", "ghcr.io:5000/a/b:c",
		"localhost:5000", "localhost:5000/a", "GHCR.IO/acme", "ghcr.io/Acme", "a..b", "a._b", "a_.b", "a__b", "a___b",
		"a-_b", "a_-b", "a.-b", "a-.b", "a--b", "-a", "a-", "_a", "a_", ".a", "a.", "a:", "a:.x", "a:-x", "a:_x", "a:x:y",
		"a@", "a@sha1:ab", "a@sha256:", "a@sha256:AB", "a@sha256:ab@sha256:ab", "a/b:c/d", "a:5/b", "a:b/c:d", "a:/b",
		"-a.b/c", "a-.b/c", "a.b:x/c", "/a", "a/", "a//b", "", "é", "a b", "a\n", "a/b/c/d:e@sha512:ff", "1.2.3.4:80/x",
	] {
		parts(ref) == pattern_parts(ref)
	}
}

default parts(_) := "none"

parts(ref) := lib.reference_parts(ref)

default pattern_parts(_) := "none"

pattern_parts(ref) := regex.find_all_string_submatch_n(lib.image_reference_pattern, ref, 1)[0]
