# METADATA
# title: Images
# description: |
#   Which container images a step may run. Registries are matched on the parsed image reference
#   (never a string prefix), ":latest" and untagged images are denied, a digest can be required,
#   and a deny list wins over everything. Settings: data.kubiya.settings.images.
package kubiya.rules.images

import data.kubiya.lib

settings := object.get(lib.settings, "images", {})

# parse(ref) splits an image reference into registry, repository, tag and digest, following the
# distribution reference grammar: the first component is a registry only when it contains "." or
# ":" or is "localhost"; otherwise the image lives on docker.io (official images under library/).
parse(ref) := {"registry": registry, "repository": repository, "tag": tag, "digest": digest} if {
	at := split(ref, "@")
	digest := at_or(at, 1, "")
	parts := split(at[0], "/")
	registry := registry_of(parts)
	path := path_of(parts)
	last := split(path[count(path) - 1], ":")
	tag := at_or(last, 1, "")
	repository := concat("/", array.concat(array.slice(path, 0, count(path) - 1), [last[0]]))
}

# at_or(arr, i, d) is arr[i], or d when arr has no element i.
at_or(arr, i, _) := arr[i]

at_or(arr, i, d) := d if not arr[i]

registry_of(parts) := parts[0] if is_registry_prefixed(parts)

registry_of(parts) := "docker.io" if not is_registry_prefixed(parts)

path_of(parts) := array.slice(parts, 1, count(parts)) if is_registry_prefixed(parts)

path_of(parts) := array.concat(["library"], parts) if {
	not is_registry_prefixed(parts)
	count(parts) == 1
}

path_of(parts) := parts if {
	not is_registry_prefixed(parts)
	count(parts) > 1
}

is_registry_prefixed(parts) if {
	count(parts) > 1
	is_registry(parts[0])
}

is_registry(component) if contains(component, ".")

is_registry(component) if contains(component, ":")

is_registry("localhost")

# Each image is parsed once; the rules below read the parsed reference.
refs contains {"image": c.container.image, "path": sprintf("%s.image", [c.path]), "ref": parse(c.container.image)} if {
	some c in lib.step_containers
}

violations contains v if {
	some c in refs
	ref := c.ref
	not ref.registry in {r | some r in object.get(settings, "allowedRegistries", [])}
	v := lib.violation("images", "IMAGE_REGISTRY_NOT_ALLOWED", c.path, sprintf("image \"%s\" is from registry \"%s\", which is not in the allowed registries", [c.image, ref.registry]))
}

violations contains v if {
	some c in refs
	ref := c.ref
	ref.digest == ""
	ref.tag in {"", "latest"}
	v := lib.violation("images", "IMAGE_TAG_NOT_PINNED", c.path, sprintf("image \"%s\" must name a version tag or a digest (not latest or untagged)", [c.image]))
}

violations contains v if {
	object.get(settings, "requireDigest", false) == true
	some c in refs
	c.ref.digest == ""
	v := lib.violation("images", "IMAGE_DIGEST_REQUIRED", c.path, sprintf("image \"%s\" must be pinned by digest (@sha256:...)", [c.image]))
}

violations contains v if {
	some c in refs
	ref := c.ref
	sprintf("%s/%s", [ref.registry, ref.repository]) in {d | some d in object.get(settings, "deniedImages", [])}
	v := lib.violation("images", "IMAGE_DENIED", c.path, sprintf("image \"%s\" is on the deny list", [c.image]))
}
