# METADATA
# title: Shared helpers
# description: Helpers every policy package uses (enforcement action, quantities, containers).
package kubiya.lib

# settings is data.kubiya.settings, or {} when a bundle has none: every package then falls back to
# its strictest reading (no registry, secret or destination allowed), and main denies outright.
default settings := {}

settings := data.kubiya.settings if has_settings

default has_settings := false

has_settings if is_object(data.kubiya.settings)

# action(code) is the enforcement action of a violation code: "deny" unless
# data.kubiya.settings.enforcement says "warn" or "audit" (Gatekeeper's enforcement actions).
action(code) := object.get(object.get(settings, "enforcement", {}), code, "deny")

# violation builds one violation document.
violation(policy, code, path, message) := {
	"code": code,
	"message": message,
	"path": path,
	"policy": policy,
	"action": action(code),
}

binary_suffixes := {"Ki": 1024, "Mi": 1048576, "Gi": 1073741824, "Ti": 1099511627776, "Pi": 1125899906842624, "Ei": 1152921504606846976}

decimal_suffixes := {"k": 1000, "M": 1000000, "G": 1000000000, "T": 1000000000000, "P": 1000000000000000, "E": 1000000000000000000}

# quantity(q) is a Kubernetes quantity ("500m", "256Mi", "2", "1G") as a number of base units.
# (Quantities come schema-checked; suffix tests are much cheaper in WASM than a regex.)
quantity(q) := to_number(q) if not has_suffix(q)

quantity(q) := n if {
	some suffix, factor in binary_suffixes
	endswith(q, suffix)
	n := to_number(trim_suffix(q, suffix)) * factor
}

quantity(q) := to_number(trim_suffix(q, "m")) / 1000 if endswith(q, "m")

quantity(q) := n if {
	some suffix, factor in decimal_suffixes
	endswith(q, suffix)
	n := to_number(trim_suffix(q, suffix)) * factor
}

has_suffix(q) if {
	some suffix in suffixes
	endswith(q, suffix)
}

suffixes := {"m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"}

# pod_containers lists every container of the pod under review with its path.
pod_containers contains {"container": c, "path": sprintf("pod.spec.containers[%d]", [i])} if {
	some i, c in input.pod.spec.containers
}

pod_containers contains {"container": c, "path": sprintf("pod.spec.initContainers[%d]", [i])} if {
	some i, c in input.pod.spec.initContainers
}

# step_containers lists the step's own container specs (main, sidecars, init) with their paths.
step_containers contains {"container": input.step, "path": "step"}

step_containers contains {"container": c, "path": sprintf("step.sidecars[%d]", [i])} if {
	some i, c in input.step.sidecars
}

step_containers contains {"container": c, "path": sprintf("step.initContainers[%d]", [i])} if {
	some i, c in input.step.initContainers
}
