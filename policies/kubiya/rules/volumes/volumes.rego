# METADATA
# title: Volumes
# description: |
#   Volume types a pod may use, and the size and number of workflow volumes (PVCs).
#   Settings: data.kubiya.settings.volumes.
package kubiya.rules.volumes

import data.kubiya.lib

settings := object.get(lib.settings, "volumes", {})

allowed_types := {t | some t in object.get(settings, "allowedTypes", ["emptyDir", "persistentVolumeClaim", "configMap", "secret", "projected", "downwardAPI"])}

violations contains v if {
	some i, vol in input.pod.spec.volumes
	some kind, _ in vol
	kind != "name"
	not kind in allowed_types
	v := lib.violation("volumes", "VOLUME_TYPE_NOT_ALLOWED", sprintf("pod.spec.volumes[%d].%s", [i, kind]), sprintf("volume \"%s\" is of type %s, which is not allowed", [vol.name, kind]))
}

violations contains v if {
	cap := settings.maxSize
	some i, vol in input.workflow.volumes
	lib.quantity(vol.size) > lib.quantity(cap)
	v := lib.violation("volumes", "VOLUME_TOO_LARGE", sprintf("workflow.volumes[%d].size", [i]), sprintf("volume \"%s\" asks for %s; the cap is %s", [vol.name, vol.size, cap]))
}

violations contains v if {
	cap := settings.maxVolumes
	count(object.get(input.workflow, "volumes", [])) > cap
	v := lib.violation("volumes", "VOLUME_COUNT_EXCEEDED", "workflow.volumes", sprintf("the workflow declares %d volumes; the cap is %d", [count(input.workflow.volumes), cap]))
}
