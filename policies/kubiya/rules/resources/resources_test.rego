package kubiya.rules.resources_test

import data.kubiya.rules.resources

settings := {"resources": {
	"requireRequests": ["cpu", "memory"], "requireLimits": ["memory"],
	"maxCpu": "4", "maxMemory": "8Gi", "maxEphemeralStorage": "20Gi", "maxGpu": 1,
}}

codes(r) := cs if {
	cs := {v.code | some v in resources.violations} with input as {"step": {"name": "s", "image": "x:1", "resources": r}}
		with data.kubiya.settings as settings
}

ok := {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}}

test_within_caps if codes(ok) == set()

test_missing_requests_and_limits if {
	codes({}) == {"RESOURCES_REQUEST_MISSING", "RESOURCES_LIMIT_MISSING"}
	cs := {v.code | some v in resources.violations} with input as {"step": {"name": "s", "image": "x:1"}}
		with data.kubiya.settings as settings
	cs == {"RESOURCES_REQUEST_MISSING", "RESOURCES_LIMIT_MISSING"}
}

test_cpu_cap if codes(object.union(ok, {"limits": {"memory": "256Mi", "cpu": "4500m"}})) == {"RESOURCES_CPU_OVER_CAP"}

test_memory_cap if codes(object.union(ok, {"limits": {"memory": "9Gi"}})) == {"RESOURCES_MEMORY_OVER_CAP"}

test_memory_at_cap if codes(object.union(ok, {"limits": {"memory": "8Gi"}})) == set()

test_ephemeral_cap if {
	r := {"requests": {"cpu": "1", "memory": "1Gi", "ephemeral-storage": "30Gi"}, "limits": {"memory": "1Gi"}}
	codes(r) == {"RESOURCES_EPHEMERAL_STORAGE_OVER_CAP"}
}

test_gpu_cap if {
	codes(object.union(ok, {"gpu": 1})) == set()
	codes(object.union(ok, {"gpu": 2})) == {"RESOURCES_GPU_OVER_CAP"}
}

test_no_settings_no_rules if {
	cs := {v.code | some v in resources.violations} with input as {"step": {"name": "s", "image": "x:1", "resources": {"gpu": 1}}}
		with data.kubiya.settings as {}
	cs == {"RESOURCES_GPU_OVER_CAP"}
}
