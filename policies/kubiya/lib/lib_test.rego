package kubiya.lib_test

import data.kubiya.lib

test_quantities if {
	lib.quantity("2") == 2
	lib.quantity("500m") == 0.5
	lib.quantity("256Mi") == 268435456
	lib.quantity("1Gi") == 1073741824
	lib.quantity("1G") == 1000000000
	lib.quantity("1.5") == 1.5
	lib.quantity("10k") == 10000
}

test_action_defaults_to_deny if {
	lib.action("X") == "deny" with data.kubiya.settings as {}
	lib.action("X") == "warn" with data.kubiya.settings as {"enforcement": {"X": "warn"}}
}

test_containers if {
	count(lib.pod_containers) == 3 with input as {"pod": {"spec": {"containers": [{}, {}], "initContainers": [{}]}}}
	count(lib.step_containers) == 3 with input as {"step": {"sidecars": [{}], "initContainers": [{}]}}
}
