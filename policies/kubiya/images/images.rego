# METADATA
# title: Images
# description: |
#   Which container images a step may run. Registries are matched on the parsed image reference
#   (never a string prefix), ":latest" and untagged images are denied, and a deny list wins over
#   everything. All settings come from data.kubiya.settings.images.
package kubiya.images

settings := data.kubiya.settings.images

# Every container of a step, with the path a violation should point to.
containers contains {"image": input.step.image, "path": "step.image"}

containers contains {"image": c.image, "path": sprintf("step.sidecars[%d].image", [i])} if {
	some i, c in input.step.sidecars
}

containers contains {"image": c.image, "path": sprintf("step.initContainers[%d].image", [i])} if {
	some i, c in input.step.initContainers
}

# parse(ref) splits an image reference into registry, repository, tag and digest, following the
# rules of the distribution reference grammar: the first component is a registry only when it
# contains "." or ":" or is "localhost"; otherwise the image lives on docker.io.
parse(ref) := {"registry": registry, "repository": repository, "tag": tag, "digest": digest} if {
	at := split(ref, "@")
	name_tag := at[0]
	digest := at_or(at, 1, "")
	parts := split(name_tag, "/")
	registry := registry_of(parts)
	path := path_of(parts)
	last := split(path[count(path) - 1], ":")
	tag := at_or(last, 1, "")
	repository := concat("/", array.concat(array.slice(path, 0, count(path) - 1), [last[0]]))
}

# at_or(arr, i, d) is arr[i], or d when arr has no element i.
at_or(arr, i, _) := arr[i]

at_or(arr, i, d) := d if not arr[i]

registry_of(parts) := parts[0] if {
	count(parts) > 1
	is_registry(parts[0])
}

registry_of(parts) := "docker.io" if {
	not is_registry_prefixed(parts)
}

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

action(code) := object.get(data.kubiya.settings.enforcement, code, "deny")

violations contains v if {
	some c in containers
	ref := parse(c.image)
	not ref.registry in {r | some r in settings.allowedRegistries}
	v := {
		"code": "IMAGE_REGISTRY_NOT_ALLOWED",
		"message": sprintf("image \"%s\" is from registry \"%s\", which is not in the allowed registries", [c.image, ref.registry]),
		"path": c.path,
		"policy": "images",
		"action": action("IMAGE_REGISTRY_NOT_ALLOWED"),
	}
}

violations contains v if {
	some c in containers
	ref := parse(c.image)
	ref.digest == ""
	ref.tag in {"", "latest"}
	v := {
		"code": "IMAGE_TAG_NOT_PINNED",
		"message": sprintf("image \"%s\" must name a version tag or a digest (not latest or untagged)", [c.image]),
		"path": c.path,
		"policy": "images",
		"action": action("IMAGE_TAG_NOT_PINNED"),
	}
}

violations contains v if {
	some c in containers
	ref := parse(c.image)
	denied := sprintf("%s/%s", [ref.registry, ref.repository])
	denied in {d | some d in settings.deniedImages}
	v := {
		"code": "IMAGE_DENIED",
		"message": sprintf("image \"%s\" is on the deny list", [c.image]),
		"path": c.path,
		"policy": "images",
		"action": action("IMAGE_DENIED"),
	}
}
