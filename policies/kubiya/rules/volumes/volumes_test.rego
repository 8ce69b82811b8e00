package kubiya.rules.volumes_test

import data.kubiya.rules.volumes

settings := {"volumes": {"maxSize": "50Gi", "maxVolumes": 2}}

codes(workflow, pod_volumes) := cs if {
	cs := {v.code | some v in volumes.violations} with input as {"workflow": workflow, "pod": {"spec": {"volumes": pod_volumes}}}
		with data.kubiya.settings as settings
}

test_ok if codes({"volumes": [{"name": "d", "size": "5Gi"}]}, [{"name": "w", "emptyDir": {}}]) == set()

test_too_large if codes({"volumes": [{"name": "d", "size": "51Gi"}]}, []) == {"VOLUME_TOO_LARGE"}

test_too_many if codes({"volumes": [{"name": "a", "size": "1Gi"}, {"name": "b", "size": "1Gi"}, {"name": "c", "size": "1Gi"}]}, []) == {"VOLUME_COUNT_EXCEEDED"}

test_type_not_allowed if {
	codes({}, [{"name": "h", "hostPath": {"path": "/"}}]) == {"VOLUME_TYPE_NOT_ALLOWED"}
	codes({}, [{"name": "n", "nfs": {"server": "x", "path": "/"}}]) == {"VOLUME_TYPE_NOT_ALLOWED"}
}

test_types_from_data if {
	cs := {v.code | some v in volumes.violations} with input as {"pod": {"spec": {"volumes": [{"name": "p", "persistentVolumeClaim": {"claimName": "c"}}]}}}
		with data.kubiya.settings as {"volumes": {"allowedTypes": ["emptyDir"]}}
	cs == {"VOLUME_TYPE_NOT_ALLOWED"}
}

test_caps_of_the_wrong_type_fail_closed if {
	three := {"volumes": [{"name": "a", "size": "1Gi"}, {"name": "b", "size": "1Gi"}, {"name": "c", "size": "1Gi"}]}
	cs := {v.code | some v in volumes.violations} with input as {"workflow": three, "pod": {"spec": {"volumes": []}}}
		with data.kubiya.settings as {"volumes": {"maxVolumes": "8", "maxSize": "50Gi"}}
	cs == {"VOLUME_COUNT_EXCEEDED"}
	big := {v.code | some v in volumes.violations} with input as {"workflow": {"volumes": [{"name": "a", "size": "1Gi"}]}, "pod": {"spec": {"volumes": []}}}
		with data.kubiya.settings as {"volumes": {"maxSize": "fifty"}}
	big == {"VOLUME_TOO_LARGE"}
	types := {v.code | some v in volumes.violations} with input as {"pod": {"spec": {"volumes": [{"name": "w", "emptyDir": {}}]}}}
		with data.kubiya.settings as {"volumes": {"allowedTypes": "emptyDir"}}
	types == {"VOLUME_TYPE_NOT_ALLOWED"}
}
