package kubiya.rules.resources_test

import data.kubiya.rules.resources

settings := {"resources": {
	"requireRequests": ["cpu", "memory"], "requireLimits": ["memory"],
	"maxCpu": "4", "maxMemory": "8Gi", "maxEphemeralStorage": "20Gi", "maxGpu": 1,
}}

ok := {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}}

main(r) := {"name": "step", "image": "x:1", "resources": r}

pod_codes(spec, s) := cs if {
	cs := {[v.code, v.path] | some v in resources.violations} with input as {"step": {"name": "s"}, "pod": {"spec": spec}}
		with data.kubiya.settings as s
}

codes(r) := {c | some [c, _] in pod_codes({"containers": [main(r)]}, settings)}

test_within_caps if codes(ok) == set()

test_missing_requests_and_limits if {
	codes({}) == {"RESOURCES_REQUEST_MISSING", "RESOURCES_LIMIT_MISSING"}
	pod_codes({"containers": [{"name": "step"}]}, settings) == {
		["RESOURCES_REQUEST_MISSING", "pod.spec.containers[0].resources.requests.cpu"],
		["RESOURCES_REQUEST_MISSING", "pod.spec.containers[0].resources.requests.memory"],
		["RESOURCES_LIMIT_MISSING", "pod.spec.containers[0].resources.limits.memory"],
	}
}

# Zero is not a limit: "0", 0, "0Mi" and "0.0" read as absent, never as "set" or "within the cap".
test_zero_is_absent if {
	every zero in ["0", 0, "0Mi", "0.0", "0Gi", "0m"] {
		codes({"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": zero}}) == {"RESOURCES_LIMIT_MISSING"}
		codes({"requests": {"cpu": zero, "memory": "128Mi"}, "limits": {"memory": "1Gi"}}) == {"RESOURCES_REQUEST_MISSING"}
	}
}

test_cpu_cap if codes(object.union(ok, {"limits": {"memory": "256Mi", "cpu": "4500m"}})) == {"RESOURCES_CPU_OVER_CAP"}

test_memory_cap if codes(object.union(ok, {"limits": {"memory": "9Gi"}})) == {"RESOURCES_MEMORY_OVER_CAP"}

test_memory_at_cap if codes(object.union(ok, {"limits": {"memory": "8Gi"}})) == set()

test_unparseable_quantity_is_over_the_cap if codes(object.union(ok, {"limits": {"memory": "lots"}})) == {"RESOURCES_MEMORY_OVER_CAP", "RESOURCES_LIMIT_MISSING"}

test_ephemeral_cap if {
	r := {"requests": {"cpu": "1", "memory": "1Gi", "ephemeral-storage": "30Gi"}, "limits": {"memory": "1Gi"}}
	codes(r) == {"RESOURCES_EPHEMERAL_STORAGE_OVER_CAP"}
}

# Caps given as numbers (a YAML 4 rather than "4") still cap; malformed caps deny.
test_caps_of_any_type_fail_closed if {
	s4 := {"resources": {"maxCpu": 4}}
	{c | some [c, _] in pod_codes({"containers": [main({"limits": {"cpu": "5"}})]}, s4)} == {"RESOURCES_CPU_OVER_CAP"}
	{c | some [c, _] in pod_codes({"containers": [main({"limits": {"cpu": "3"}})]}, s4)} == set()
	bad := {"resources": {"maxMemory": "eight"}}
	{c | some [c, _] in pod_codes({"containers": [main({"limits": {"memory": "1Mi"}})]}, bad)} == {"RESOURCES_MEMORY_OVER_CAP"}
}

sidecar(name, r) := {"name": name, "image": "x:1", "restartPolicy": "Always", "resources": r}

init(name, r) := {"name": name, "image": "x:1", "resources": r}

test_every_container_must_declare if {
	spec := {"containers": [main(ok)], "initContainers": [{"name": "dl", "image": "x:1"}, {"name": "db", "image": "pg:15", "restartPolicy": "Always"}]}
	pod_codes(spec, settings) == {
		["RESOURCES_REQUEST_MISSING", "pod.spec.initContainers[0].resources.requests.cpu"],
		["RESOURCES_REQUEST_MISSING", "pod.spec.initContainers[0].resources.requests.memory"],
		["RESOURCES_LIMIT_MISSING", "pod.spec.initContainers[0].resources.limits.memory"],
		["RESOURCES_REQUEST_MISSING", "pod.spec.initContainers[1].resources.requests.cpu"],
		["RESOURCES_REQUEST_MISSING", "pod.spec.initContainers[1].resources.requests.memory"],
		["RESOURCES_LIMIT_MISSING", "pod.spec.initContainers[1].resources.limits.memory"],
	}
}

test_sidecar_over_the_cap if {
	spec := {"containers": [main(ok)], "initContainers": [sidecar("db", object.union(ok, {"limits": {"memory": "9Gi"}}))]}
	pod_codes(spec, settings) == {
		["RESOURCES_MEMORY_OVER_CAP", "pod.spec.initContainers[0].resources.limits.memory"],
		["RESOURCES_MEMORY_OVER_CAP", "pod.spec"],
	}
}

# The pod's total: main + sidecars run together; each init container runs beside the sidecars.
test_pod_total if {
	five := {"requests": {"cpu": "1", "memory": "128Mi"}, "limits": {"memory": "5Gi"}}
	together := {"containers": [main(five)], "initContainers": [sidecar("db", five)]}
	pod_codes(together, settings) == {["RESOURCES_MEMORY_OVER_CAP", "pod.spec"]}
	one_after_another := {"containers": [main(five)], "initContainers": [init("dl", five)]}
	pod_codes(one_after_another, settings) == set()
	init_beside_sidecar := {"containers": [main(ok)], "initContainers": [init("dl", five), sidecar("db", five)]}
	pod_codes(init_beside_sidecar, settings) == {["RESOURCES_MEMORY_OVER_CAP", "pod.spec"]}
}

gpu_codes(n) := cs if {
	cs := {v.code | some v in resources.violations} with input as {"step": {"name": "s", "resources": {"gpu": n}}, "pod": {"spec": {"containers": [main(ok)]}}}
		with data.kubiya.settings as settings
}

test_gpu_cap if {
	gpu_codes(1) == set()
	gpu_codes(2) == {"RESOURCES_GPU_OVER_CAP"}
}

test_gpu_cap_is_a_number if {
	cs := {v.code | some v in resources.violations} with input as {"step": {"resources": {"gpu": 1}}, "pod": {"spec": {"containers": []}}}
		with data.kubiya.settings as {"resources": {"maxGpu": "4"}}
	cs == {"RESOURCES_GPU_OVER_CAP"}
}

test_no_settings_no_rules if {
	cs := {v.code | some v in resources.violations} with input as {"step": {"name": "s", "image": "x:1", "resources": {"gpu": 1}}, "pod": {"spec": {"containers": [{"name": "step"}]}}}
		with data.kubiya.settings as {}
	cs == {"RESOURCES_GPU_OVER_CAP"}
}
