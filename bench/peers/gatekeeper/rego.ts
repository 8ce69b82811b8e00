/**
 * The Rego (v1 syntax) of the Gatekeeper row's three ConstraintTemplates: our own short versions of
 * the runner's image and resource rules (policies/kubiya/rules/{images,resources}), not copies of
 * gatekeeper-library. Gatekeeper evaluates `violation` with `input.review.object` (the pod after
 * mutation) and `input.parameters` (the Constraint's parameters).
 *
 * Every container kind of a pod is checked (containers, initContainers, ephemeralContainers), as
 * the runner checks every container of a step (sidecars and init containers too).
 */

/** Shared by the three templates: every container of the pod under review. */
const CONTAINERS = `
containers contains c if some c in input.review.object.spec.containers

containers contains c if some c in input.review.object.spec.initContainers

containers contains c if some c in input.review.object.spec.ephemeralContainers
`;

/**
 * Images only from the allowed registries (parameter `registries`, host names). A reference's
 * registry is normalised as the runner's kubiya.lib.image_split does (Docker's ParseNormalizedNamed):
 * a first path component is a host only when it has a "." or ":", is "localhost", or has upper case;
 * otherwise (and for one-component names) the image is on docker.io; Docker Hub's other host names
 * are docker.io. So `migrate/migrate:v4.17.0` and `postgres:15` are docker.io images.
 */
export const ALLOWED_REGISTRIES_REGO = `package k8sbenchallowedregistries
${CONTAINERS}
docker_hub_aliases := {"index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"}

is_host(first) if contains(first, ".")

is_host(first) if contains(first, ":")

is_host("localhost")

is_host(first) if lower(first) != first

dealias(host) := "docker.io" if host in docker_hub_aliases

dealias(host) := host if not host in docker_hub_aliases

registry(image) := "docker.io" if not contains(image, "/")

registry(image) := "docker.io" if {
	contains(image, "/")
	not is_host(split(image, "/")[0])
}

registry(image) := dealias(lower(first)) if {
	contains(image, "/")
	first := split(image, "/")[0]
	is_host(first)
}

violation contains {"msg": msg} if {
	some c in containers
	not registry(c.image) in {r | some r in input.parameters.registries}
	msg := sprintf("image %q of container %q is not from an allowed registry %v", [c.image, c.name, input.parameters.registries])
}
`;

/**
 * No ":latest" and no untagged image (a digest pins an image with or without a tag), as the
 * runner's IMAGE_TAG_NOT_PINNED: the tag is after the last ":" of the last path component (a
 * registry port is not a tag).
 */
export const PINNED_TAGS_REGO = `package k8sbenchpinnedtags
${CONTAINERS}
last_component(image) := parts[count(parts) - 1] if parts := split(split(image, "@")[0], "/")

unpinned(image) if {
	not contains(image, "@")
	not contains(last_component(image), ":")
}

unpinned(image) if {
	not contains(image, "@")
	split(last_component(image), ":")[1] == "latest"
}

violation contains {"msg": msg} if {
	some c in containers
	unpinned(c.image)
	msg := sprintf("image %q of container %q must name a version tag or a digest (not latest or untagged)", [c.image, c.name])
}
`;

/**
 * Required resources (parameters `requests` and `limits`, resource names), as the runner's
 * resources.requireRequests / requireLimits: each container must set each named one.
 */
export const REQUIRED_RESOURCES_REGO = `package k8sbenchrequiredresources
${CONTAINERS}
violation contains {"msg": msg} if {
	some c in containers
	some kind in ["requests", "limits"]
	some name in object.get(input.parameters, kind, [])
	not name in object.keys(object.get(c, ["resources", kind], {}))
	msg := sprintf("container %q must set resources.%s.%s", [c.name, kind, name])
}
`;
