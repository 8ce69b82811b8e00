# METADATA
# title: Resources
# description: |
#   What a step may consume, in every container of the pod as built (main, sidecars, init): the
#   requests and limits each must declare, caps per container, and the same caps on the pod's
#   total (what the scheduler reserves: the main container plus the sidecars, or an init
#   container plus the sidecars, whichever is larger). A quantity of zero ("0", 0, "0Mi") is no request and no limit
#   (the runtime reads a zero limit as unlimited), so it never satisfies a requirement.
#   GPUs are capped per step. Settings: data.kubiya.settings.resources.
package kubiya.rules.resources

import data.kubiya.lib

settings := lib.section("resources")

caps := {"cpu": "maxCpu", "memory": "maxMemory", "ephemeral-storage": "maxEphemeralStorage"}

codes := {"cpu": "RESOURCES_CPU_OVER_CAP", "memory": "RESOURCES_MEMORY_OVER_CAP", "ephemeral-storage": "RESOURCES_EPHEMERAL_STORAGE_OVER_CAP"}

# container_resources(c) is a container's resources, or {}.
container_resources(c) := r if {
	r := c.container.resources
	is_object(r)
} else := {}

# The pod's containers as the scheduler sees them: init containers run one after another before
# the main container; sidecars (native: init containers with restartPolicy Always) run beside
# everything after them (counted beside every init container here: an upper bound). role(c) is
# "sidecar" for a container with restartPolicy Always (wherever it is), else "init" for an init
# container, else "main".
role(c) := "sidecar" if {
	c.container.restartPolicy == "Always"
} else := "init" if {
	startswith(c.path, "pod.spec.initContainers")
} else := "main"

# sized: each pod container (c, as in lib.pod_containers) with its role, its resources (res,
# container_resources(c)) and its parsed quantities (q, quantities[c.path]), in order: built once per evaluation, so the rules below iterate it
# instead of looking each container up by its path (issue 20 §2).
sized := [{"c": c, "role": role(c), "res": container_resources(c), "q": quantities[c.path]} | some c in lib.pod_containers]

# quantities[path][kind][r] is lib.quantity(container_resources(c)[kind][r]) of the pod container
# at path, for each kind ("requests", "limits") and each r it lists; absent when it does not parse.
# Parsed once per evaluation (issue #20 §2: every rule and each of the pod's totals parsed them
# again, ~80 parses of the bench step). test/policies/rego-rewrites.test.ts compares the decisions
# with the rules as they were (test/policies/rego-before-rewrite/h-rego/resources.rego).
quantities[c.path] := {kind: {r: n | some r, q in res[kind]; n := lib.quantity(q)} | some kind in ["requests", "limits"]} if {
	some c in lib.pod_containers
	res := container_resources(c)
}

# declared(e, kind, r): the container (an entry of sized) declares a positive quantity of r (zero
# is not declared).
declared(e, kind, r) if e.q[kind][r] > 0

# amount(e, kind, r) is the quantity of the container (an entry of sized) in base units; 0 when
# absent or zero.
amount(e, kind, r) := object.get(e.q[kind], r, 0)

# The caps in base units, each parsed once per evaluation (not once per container and kind); a
# cap that does not parse has no entry, so nothing is within it (lib.within's fail-closed rule).
cap_quantity[key] := q if {
	some key in caps
	lib.has_key(settings, key)
	q := cap_value(key)
}

# cap_value(key) is the cap settings[key] parsed: derived once per loaded data where the runner did
# so (data.kubiya.derived, main/derived.rego; exact caps only), else parsed on each evaluation.
cap_value(key) := q if {
	q := data.kubiya.derived.resources.caps[key]
} else := lib.quantity(settings[key])

# exact_caps[key]: the caps (parsed) that are integers of magnitude at most 2^53, which a trip
# through JSON in JavaScript (the derived document's) keeps exactly; a fraction or a larger number
# could change on the way, so such a cap is parsed on each evaluation instead. Settings only.
exact_caps[key] := q if {
	some key in caps
	lib.has_key(settings, key)
	q := lib.quantity(settings[key])
	abs(q) <= 9007199254740992
	floor(q) == q
}

# capped[r] is the settings key of each resource r the settings cap (parsed or not).
capped[r] := key if {
	some r, key in caps
	lib.has_key(settings, key)
}

# within_cap(n, key): a quantity n in base units is not above the cap (lib.within with both parsed
# once); false when the cap does not parse.
within_cap(n, key) if n <= cap_quantity[key]

# asked_within(e, kind, r, key): the container's (an entry of sized) parsed quantity is within the
# cap; false when either does not parse. (Not `within_cap(e.q[kind][r], key)` under `not`: a ref
# argument is evaluated outside the negation, so an unparseable quantity would make the rule fail.)
asked_within(e, kind, r, key) if e.q[kind][r] <= cap_quantity[key]

asked_zero(e, kind, r) if e.q[kind][r] == 0

# total(es, kind, r): the pod's total over its containers es (sized): the main containers plus
# sidecars, or the largest init container plus sidecars (the sidecars' sum computed once, not once
# per init container).
total(es, kind, r) := max(array.concat(
	[sum([amount(e, kind, r) | some e in es; e.role != "init"])],
	[t | some e in es; e.role == "init"; t := amount(e, kind, r) + side],
)) if {
	side := sum([amount(e, kind, r) | some e in es; e.role == "sidecar"])
}

violations contains v if {
	some e in sized
	some r in lib.list(settings, "requireRequests")
	not declared(e, "requests", r)
	c := e.c
	v := lib.violation("resources", "RESOURCES_REQUEST_MISSING", sprintf("%s.resources.requests.%s", [c.path, r]), sprintf("%s must request %s (a request of zero is none)", [name(c), r]))
}

violations contains v if {
	some e in sized
	some r in lib.list(settings, "requireLimits")
	not declared(e, "limits", r)
	c := e.c
	v := lib.violation("resources", "RESOURCES_LIMIT_MISSING", sprintf("%s.resources.limits.%s", [c.path, r]), sprintf("%s must set a %s limit (a limit of zero is none)", [name(c), r]))
}

# Per container: a positive quantity above the cap (or one that does not parse) is over it. Each
# quantity the container lists, looked up among the caps (not each cap looked up in each container).
violations contains v if {
	some e in sized
	some kind in ["requests", "limits"]
	some r, asked in e.res[kind]
	key := capped[r]
	cap := settings[key]
	not asked_zero(e, kind, r)
	not asked_within(e, kind, r, key)
	c := e.c
	v := lib.violation("resources", codes[r], sprintf("%s.resources.%s.%s", [c.path, kind, r]), sprintf("%s: %s %s of %v is above the cap of %v", [name(c), r, kind, asked, cap]))
}

violations contains v if {
	count(lib.pod_containers) > 1
	some kind in ["requests", "limits"]
	some r, key in capped
	cap := settings[key]
	t := total(sized, kind, r)
	not within_cap(t, key)
	v := lib.violation("resources", codes[r], "pod.spec", sprintf("the pod's total %s %s (all its containers) of %v is above the cap of %v", [r, kind, t, cap]))
}

violations contains v if {
	gpus := object.get(object.get(input.step, "resources", {}), "gpu", 0)
	cap := lib.number(settings, "maxGpu", 0)
	gpus > cap
	v := lib.violation("resources", "RESOURCES_GPU_OVER_CAP", "step.resources.gpu", sprintf("%v GPUs asked; the cap is %v", [gpus, cap]))
}

name(c) := sprintf("container \"%v\"", [c.container.name])
