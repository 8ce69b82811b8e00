# METADATA
# title: Images
# description: |
#   Which container images a step may run, in every container (main, sidecars, init). Each
#   reference is parsed by the distribution/reference grammar and normalised (lib.parse_image);
#   an invalid one is denied. An image must match an entry of allowedRegistries, and must match no
#   entry of deniedImages: an entry is a registry host ("ghcr.io"), a registry/namespace prefix
#   ("ghcr.io/acme", matched on "/" boundaries) or a repository ("docker.io/library/alpine", also
#   written "alpine"). ":latest" and untagged images are denied, a digest can be required.
#   Settings: data.kubiya.settings.images.
package kubiya.rules.images

import data.kubiya.lib

settings := lib.section("images")

# The allow and deny entries parsed: once per loaded data where the runner derived them
# (data.kubiya.derived, main/derived.rego), else on each evaluation.
allowed := d if d := data.kubiya.derived.images.allowed

else := [e | some a in lib.list(settings, "allowedRegistries"); e := lib.parse_image_entry(a)]

denied := d if d := data.kubiya.derived.images.denied

else := [e | some d in lib.list(settings, "deniedImages"); e := lib.parse_image_entry(d)]

allowed_ref(ref) if {
	some e in allowed
	lib.image_entry_matches(e, ref)
}

grammar := "distribution grammar: lower-case repository, no \"..\" or empty components, tags of at most 128 characters, sha256/sha384/sha512 digests in lower-case hex"

# Each image is parsed once (regex.match is slow in WASM); the rules below read the parsed reference.
parsed[c.path] := lib.parse_image(object.get(c.container, "image", null)) if {
	some c in lib.step_containers
}

# refs: each container's image and its parsed reference, by the container's path (an object, not a
# set of objects: iterating a set hashes each element whole; `some r in refs` reads the values).
refs[c.path] := {"image": c.container.image, "path": concat("", [c.path, ".image"]), "ref": parsed[c.path]} if {
	some c in lib.step_containers
}

violations contains v if {
	some c in lib.step_containers
	not parsed[c.path]
	msg := sprintf("image %v is not a valid image reference (%s)", [object.get(c.container, "image", null), grammar])
	v := lib.violation("images", "IMAGE_REFERENCE_INVALID", sprintf("%s.image", [c.path]), msg)
}

violations contains v if {
	some c in refs
	not allowed_ref(c.ref)
	v := lib.violation("images", "IMAGE_REGISTRY_NOT_ALLOWED", c.path, sprintf("image \"%s\" (%s/%s) is not under any allowed registry, namespace or repository", [c.image, c.ref.registry, c.ref.repository]))
}

violations contains v if {
	some c in refs
	c.ref.digest == ""
	c.ref.tag in {"", "latest"}
	v := lib.violation("images", "IMAGE_TAG_NOT_PINNED", c.path, sprintf("image \"%s\" must name a version tag or a digest (not latest or untagged)", [c.image]))
}

violations contains v if {
	lib.not_disabled(settings, "requireDigest")
	some c in refs
	c.ref.digest == ""
	v := lib.violation("images", "IMAGE_DIGEST_REQUIRED", c.path, sprintf("image \"%s\" must be pinned by digest (@sha256:...)", [c.image]))
}

violations contains v if {
	some c in refs
	some e in denied
	lib.image_entry_matches(e, c.ref)
	v := lib.violation("images", "IMAGE_DENIED", c.path, sprintf("image \"%s\" (%s/%s) is on the deny list", [c.image, c.ref.registry, c.ref.repository]))
}

# A deny entry that is not an entry (a tag, a glob, a wrong type) would deny nothing: deny instead.
violations contains v if {
	some i, d in lib.list(settings, "deniedImages")
	not lib.parse_image_entry(d)
	v := lib.violation("images", "POLICY_SETTINGS_INVALID", "", sprintf("images.deniedImages[%d] (%v) is not a registry, namespace or repository", [i, d]))
}
