# Image references parsed by the distribution/reference grammar and normalised as
# ParseNormalizedNamed does (docker.io/library/...; index.docker.io, registry-1.docker.io and
# registry.hub.docker.com are docker.io; a registry port of :443 is refused), and the allow/deny entries of data.kubiya.settings.images matched on path boundaries. The same grammar
# is in src/oci/image-ref.ts; test/policies/image-ref.test.ts runs one table against both.
package kubiya.lib

# The whole reference: name (group 1), tag (group 2), digest (group 3). RE2, linear time. The
# lengths the grammar bounds (a tag of at most 128 characters, a digest of exactly 64, 96 or 128
# hex digits for its algorithm) are checked in Rego (tag_ok, digest_ok), not by bounded repeats:
# WASM compiles the pattern on every evaluation, and a bounded repeat is compiled as that many
# copies (`{0,127}` and the three digests made the pattern ~4× the size to compile).
# regal ignore:line-length
image_reference_pattern := `^((?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*(?::[0-9]+)?/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)(?::([A-Za-z0-9_][A-Za-z0-9_.-]*))?(?:@((?:sha256|sha384|sha512):[a-f0-9]+))?$`

# An allow/deny entry: a registry host, a registry/namespace prefix, or a repository.
# regal ignore:line-length
image_entry_pattern := `^(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*(?::[0-9]+)?(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*|[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)$`

# parse_image(ref) is {registry, repository, tag, digest, canonical}; undefined when ref is not a
# valid reference (the images package reports IMAGE_REFERENCE_INVALID for those).
parse_image(ref) := r if {
	is_string(ref)
	count(ref) <= 1024
	m := reference_parts(ref)
	count(m[1]) <= 255
	count(m[2]) <= 128
	digest_ok(m[3])
	named := image_split(m[1])
	not image_id_name(named)
	not ambiguous_registry(named.registry)
	port_ok(named.registry)
	r := {
		"registry": named.registry,
		"repository": named.repository,
		"tag": m[2],
		"digest": m[3],
		"canonical": canonical(named, m[2], m[3]),
	}
}

# reference_parts(ref) is [ref, name, tag, digest] ("" for no tag, no digest) when ref is in
# image_reference_pattern's grammar: what regex.find_all_string_submatch_n(image_reference_pattern,
# ref, 1)[0] gives, with string tests (issue #20: WASM compiled the pattern on every evaluation,
# 13 % of it). A digest follows the only "@"; a tag follows the only ":" of the last "/"-separated
# part (a port's ":" is never in the last part, names and tags hold no ":" or "@"); the name is
# components, or a domain with an optional port and at least one component. image_test.rego and
# test/policies/rego-rewrites.test.ts compare it with the pattern.
reference_parts(ref) := [ref, name, tag, digest] if {
	at := split(ref, "@")
	count(at) <= 2
	digest := digest_part(at)
	[name, tag] := name_and_tag(at[0])
	valid_name(name)
}

digest_part(at) := "" if count(at) == 1

else := at[1] if {
	count(at) == 2
	parts := split(at[1], ":")
	count(parts) == 2
	parts[0] in {"sha256", "sha384", "sha512"}
	parts[1] != ""
	trim_left(parts[1], "0123456789abcdef") == ""
}

# name_and_tag(s): [name, tag] of s ("" when untagged), its last "/"-part split once (not once per
# body of the else chain below: issue 20 §2).
name_and_tag(s) := name_and_tag_of(s, last_part(s))

name_and_tag_of(s, last) := [s, ""] if not contains(last, ":")

else := [substring(s, 0, (count(s) - count(tag)) - 1), tag] if {
	parts := split(last, ":")
	count(parts) == 2
	tag := parts[1]
	tag != ""
	trim_left(tag, "0123456789.etaoinsrlcdmupghbfykvwxzjq-_ABCDEFGHIJKLMNOPQRSTUVWXYZ") == ""
	not startswith(tag, ".")
	not startswith(tag, "-")
}

last_part(s) := parts[count(parts) - 1] if parts := split(s, "/")

# valid_name(name): components ("/"-separated), or a domain (with an optional port) and components.
valid_name(name) if {
	every c in split(name, "/") {
		valid_component(c)
	}
} else if {
	parts := split(name, "/")
	count(parts) >= 2
	valid_domain(parts[0])
	every c in array.slice(parts, 1, count(parts)) {
		valid_component(c)
	}
}

# valid_domain(d): dot-separated labels of letters, digits and inner hyphens, then ":" and digits or nothing.
valid_domain(d) if {
	host_port := split(d, ":")
	count(host_port) <= 2
	port_digits(host_port)
	every l in split(host_port[0], ".") {
		l != ""
		trim_left(l, "etaoinsrlcdmupghbfykvwxzjq0123456789-ABCDEFGHIJKLMNOPQRSTUVWXYZ") == ""
		not startswith(l, "-")
		not endswith(l, "-")
	}
}

port_digits(host_port) if count(host_port) == 1

else if {
	count(host_port) == 2
	host_port[1] != ""
	trim_left(host_port[1], "0123456789") == ""
}

# valid_component(c): runs of [a-z0-9] joined by ".", "_", "__" or one or more "-". Any other
# separator run holds one of the pairs excluded below (two dots, a dot beside "_" or "-", "_"
# beside "-", three "_"), so excluding those, and a separator first or last, is the grammar exactly.
valid_component(c) if {
	c != ""
	trim_left(c, "etaoinsrlcdmupghbfykvwxzjq0123456789") == ""
} else if {
	c != ""
	trim_left(c, "etaoinsrlcdmupghbfykvwxzjq-0123456789._") == ""
	not substring(c, 0, 1) in {".", "_", "-"}
	not substring(c, count(c) - 1, 1) in {".", "_", "-"}
	every bad in ["..", "._", "_.", ".-", "-.", "_-", "-_", "___"] {
		not contains(c, bad)
	}
}

canonical(named, tag, digest) := concat("", [named.registry, "/", named.repository, ":", tag]) if {
	tag != ""
	digest == ""
} else := concat("", [named.registry, "/", named.repository, ":latest"]) if {
	tag == ""
	digest == ""
} else := concat("", [named.registry, "/", named.repository, "@", digest]) if {
	tag == ""
	digest != ""
} else := concat("", [named.registry, "/", named.repository, ":", tag, "@", digest]) if {
	tag != ""
	digest != ""
}

# digest_ok(d): no digest, or the algorithm's exact number of hex digits (the pattern checked the
# algorithm and that the rest is lower-case hex).
digest_ok(d) if d == ""

else if count(d) == count("sha256:") + digest_hex_length[substring(d, 0, 6)]

digest_hex_length := {"sha256": 64, "sha384": 96, "sha512": 128}

# "Registry/app" is a registry only by its upper case; in lower case it would be a Docker Hub
# namespace: refused rather than guessed.
ambiguous_registry(registry) if {
	registry != "docker.io"
	not contains(registry, ".")
	not contains(registry, ":")
	registry != "localhost"
}

# A 64-hex name on docker.io is an image ID, not a repository (ParseNormalizedNamed refuses it).
image_id_name(named) if {
	named.registry == "docker.io"
	hex64(trim_prefix(named.repository, "library/"))
}

# hex64(s): s is exactly 64 lower-case hex digits (string tests: a regex is compiled per evaluation).
hex64(s) if {
	count(s) == 64
	trim_left(s, "0123456789abcdef") == ""
}

is_registry_component(first) if contains(first, ".")

else if contains(first, ":")

else if first == "localhost"

else if lower(first) != first

# Host names of Docker Hub (DOCKER_HUB_ALIASES in src/oci/image-ref.ts): the same repositories as docker.io.
docker_hub_aliases := {"index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"}

docker_hub_library := {concat("", [h, "/library"]) | some h in docker_hub_aliases} | {"docker.io/library"}

dealias(host) := "docker.io" if host in docker_hub_aliases

else := host if not host in docker_hub_aliases

# port_ok(registry): no port, or a port 1..65535 without leading zeros that is not the default
# :443 (which names the same registry as no port, so a deny entry would not see it: refused).
port_ok(registry) if not contains(registry, ":")

else if {
	port := split(registry, ":")[1]
	count(port) <= 5
	trim_left(port, "0123456789") == ""
	not startswith(port, "0")
	port != ""
	to_number(port) <= 65535
	port != "443"
}

# image_split(name) is the registry and repository of a name without tag or digest.
image_split(name) := {"registry": "docker.io", "repository": concat("/", ["library", name])} if not contains(name, "/")

else := {"registry": "docker.io", "repository": name} if {
	contains(name, "/")
	not is_registry_component(split(name, "/")[0])
} else := {"registry": registry, "repository": official(registry, path)} if {
	contains(name, "/")
	first := split(name, "/")[0]
	is_registry_component(first)
	registry := dealias(lower(first))
	path := substring(name, count(first) + 1, -1)
}

official(registry, path) := concat("/", ["library", path]) if {
	registry == "docker.io"
	not contains(path, "/")
} else := path if registry != "docker.io"

else := path if contains(path, "/")

# parse_image_entry(e) is {registry, path} ("" path: the whole registry); undefined when e is not
# an entry (tags, digests, globs, upper-case paths and non-strings are not entries).
# The functions here with more than one body are `else` chains (issue #20 §2): compiled to WASM,
# every body of a function is evaluated on each call, whichever holds; the bodies of each chain
# are mutually exclusive or give the same value, so the first that holds is the value they had.
# test/policies/rego-rewrites.test.ts compares them with the library as it was
# (test/policies/rego-before-rewrite/image.rego).
parse_image_entry(e) := {"registry": "docker.io", "path": "library"} if {
	is_string(e)
	lower(e) in docker_hub_library
} else := entry if {
	is_string(e)
	count(e) <= 255
	entry_grammar(e)
	entry := entry_of(e)
}

entry_of(e) := {"registry": dealias(lower(e)), "path": ""} if {
	image_host_only(e)
	port_ok(lower(e))
} else := {"registry": named.registry, "path": named.repository} if {
	not image_host_only(e)
	named := image_split(e)
	port_ok(named.registry)
}

# entry_grammar(e): e is in the grammar of image_entry_pattern (a registry host with an optional
# port and path, or a path), checked as a reference name (valid_name, string tests: issue #20,
# WASM compiled the pattern on every evaluation). e + "/x" is a name exactly when e is an entry:
# a name is [domain[:port]/]component(/component)*, so e is either domain[:port] (the last
# component is the "x") or [domain[:port]/]component(/component)*. Checked against
# image_entry_pattern itself in image_test.rego and test/policies/rego-rewrites.test.ts.
entry_grammar(e) if valid_name(concat("", [e, "/x"]))

image_host_only(e) if {
	not contains(e, "/")
	is_registry_component(e)
}

# image_entry_matches(entry, ref): same registry, and the repository is the entry's path or lies
# under it on a "/" boundary ("ghcr.io/acme" covers "ghcr.io/acme/tool", not "ghcr.io/acme-tools/x").
image_entry_matches(entry, ref) if {
	entry.registry == ref.registry
	entry.path == ""
} else if {
	entry.registry == ref.registry
	entry.path == ref.repository
} else if {
	entry.registry == ref.registry
	entry.path != ""
	startswith(ref.repository, concat("", [entry.path, "/"]))
}
