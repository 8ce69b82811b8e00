# METADATA
# title: Resources
# description: |
#   What a step may consume: requests and limits it must declare, and caps per step for CPU,
#   memory, ephemeral storage and GPUs. Settings: data.kubiya.settings.resources.
package kubiya.rules.resources

import data.kubiya.lib

settings := object.get(lib.settings, "resources", {})

requested := object.get(input.step, "resources", {})

caps := {"cpu": "maxCpu", "memory": "maxMemory", "ephemeral-storage": "maxEphemeralStorage"}

codes := {"cpu": "RESOURCES_CPU_OVER_CAP", "memory": "RESOURCES_MEMORY_OVER_CAP", "ephemeral-storage": "RESOURCES_EPHEMERAL_STORAGE_OVER_CAP"}

violations contains v if {
	some r in object.get(settings, "requireRequests", [])
	not requested.requests[r]
	v := lib.violation("resources", "RESOURCES_REQUEST_MISSING", sprintf("step.resources.requests.%s", [r]), sprintf("the step must request %s", [r]))
}

violations contains v if {
	some r in object.get(settings, "requireLimits", [])
	not requested.limits[r]
	v := lib.violation("resources", "RESOURCES_LIMIT_MISSING", sprintf("step.resources.limits.%s", [r]), sprintf("the step must set a %s limit", [r]))
}

violations contains v if {
	some kind in ["requests", "limits"]
	some r, key in caps
	cap := settings[key]
	asked := requested[kind][r]
	lib.quantity(asked) > lib.quantity(cap)
	v := lib.violation("resources", codes[r], sprintf("step.resources.%s.%s", [kind, r]), sprintf("%s %s of %s is above the cap of %s", [r, kind, asked, cap]))
}

violations contains v if {
	requested.gpu > object.get(settings, "maxGpu", 0)
	v := lib.violation("resources", "RESOURCES_GPU_OVER_CAP", "step.resources.gpu", sprintf("%d GPUs asked; the cap is %d", [requested.gpu, object.get(settings, "maxGpu", 0)]))
}
