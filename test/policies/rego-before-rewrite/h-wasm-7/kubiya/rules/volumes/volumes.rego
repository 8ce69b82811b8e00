# METADATA
# title: Volumes
# description: |
#   Volume types a pod may use, and the size and number of workflow volumes (PVCs).
#   Settings: data.kubiya.settings.volumes.
package kubiya.rules.volumes

import data.kubiya.lib

settings := lib.section("volumes")

default_types := ["emptyDir", "persistentVolumeClaim", "configMap", "secret", "projected", "downwardAPI"]

# allowedTypes when it is an array; the default set when it is absent; nothing when it is malformed.
allowed_types contains t if {
	some t in object.get(settings, "allowedTypes", default_types)
	is_string(t)
}

# exact_caps.maxSize: the maxSize cap parsed, when it is an integer of magnitude at most 2^53 (a
# trip through JSON in JavaScript keeps it exactly). Settings only: derived once per loaded data
# where the runner did so (data.kubiya.derived, main/derived.rego).
exact_caps[key] := q if {
	some key, cap in settings
	key == "maxSize"
	q := lib.quantity(cap)
	abs(q) <= 9007199254740992
	floor(q) == q
}

# max_size is the maxSize cap parsed (derived, else parsed on each evaluation); undefined when it
# does not parse.
max_size := q if {
	q := data.kubiya.derived.volumes.caps.maxSize
} else := lib.quantity(settings.maxSize)

# within_size(size): a volume's size is a quantity not above max_size; false when either does not
# parse (lib.within with the cap parsed once).
within_size(size) if lib.quantity(size) <= max_size

violations contains v if {
	some i, vol in input.pod.spec.volumes
	some kind, _ in vol
	kind != "name"
	not kind in allowed_types
	v := lib.violation("volumes", "VOLUME_TYPE_NOT_ALLOWED", sprintf("pod.spec.volumes[%d].%s", [i, kind]), sprintf("volume \"%s\" is of type %s, which is not allowed", [vol.name, kind]))
}

violations contains v if {
	lib.has_key(settings, "maxSize")
	cap := settings.maxSize
	some i, vol in input.workflow.volumes
	not within_size(object.get(vol, "size", null))
	v := lib.violation("volumes", "VOLUME_TOO_LARGE", sprintf("workflow.volumes[%d].size", [i]), sprintf("volume \"%s\" asks for %s; the cap is %v", [vol.name, vol.size, cap]))
}

violations contains v if {
	lib.has_key(settings, "maxVolumes")
	cap := lib.number(settings, "maxVolumes", 0)
	count(object.get(input.workflow, "volumes", [])) > cap
	v := lib.violation("volumes", "VOLUME_COUNT_EXCEEDED", "workflow.volumes", sprintf("the workflow declares %d volumes; the cap is %v", [count(input.workflow.volumes), cap]))
}
