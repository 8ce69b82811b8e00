package kubiya.rules.privilege_test

import data.kubiya.rules.privilege

settings := {"privilege": {"allowedCapabilities": ["NET_BIND_SERVICE"], "allowedSysctls": ["net.ipv4.ping_group_range"]}}

codes(spec) := cs if {
	cs := {v.code | some v in privilege.violations} with input as {"pod": {"spec": spec}}
		with data.kubiya.settings as settings
}

c(sc) := {"name": "step", "image": "x:1", "securityContext": sc}

test_plain_pod_passes if codes({"containers": [{"name": "step", "image": "x:1"}]}) == set()

test_privileged if codes({"containers": [c({"privileged": true})]}) == {"PRIVILEGED_CONTAINER"}

test_escalation if codes({"containers": [c({"allowPrivilegeEscalation": true})]}) == {"PRIVILEGE_ESCALATION"}

test_host_namespaces if {
	codes({"containers": [], "hostNetwork": true}) == {"HOST_NAMESPACE"}
	codes({"containers": [], "hostPID": true}) == {"HOST_NAMESPACE"}
	codes({"containers": [], "hostIPC": true}) == {"HOST_NAMESPACE"}
	codes({"containers": [], "hostIPC": false}) == set()
}

test_host_path if codes({"containers": [], "volumes": [{"name": "h", "hostPath": {"path": "/"}}]}) == {"HOST_PATH_VOLUME"}

test_host_path_allowed_by_data if {
	cs := {v.code | some v in privilege.violations} with input as {"pod": {"spec": {"containers": [], "volumes": [{"name": "h", "hostPath": {"path": "/"}}]}}}
		with data.kubiya.settings as {"privilege": {"allowHostPath": true}}
	cs == set()
}

test_host_port if codes({"containers": [{"name": "s", "ports": [{"containerPort": 80, "hostPort": 80}]}]}) == {"HOST_PORT"}

test_capabilities if {
	codes({"containers": [c({"capabilities": {"add": ["NET_BIND_SERVICE"]}})]}) == set()
	codes({"containers": [c({"capabilities": {"add": ["SYS_ADMIN"]}})]}) == {"CAPABILITY_NOT_ALLOWED"}
}

test_root if {
	codes({"containers": [c({"runAsUser": 0})]}) == {"RUN_AS_ROOT"}
	codes({"containers": [c({"runAsNonRoot": false})]}) == {"RUN_AS_ROOT"}
	codes({"containers": [], "securityContext": {"runAsUser": 0}}) == {"RUN_AS_ROOT"}
}

test_proc_mount if codes({"initContainers": [c({"procMount": "Unmasked"})], "containers": []}) == {"PROC_MOUNT_UNMASKED"}

test_sysctls if {
	codes({"containers": [], "securityContext": {"sysctls": [{"name": "net.ipv4.ping_group_range", "value": "0 1"}]}}) == set()
	codes({"containers": [], "securityContext": {"sysctls": [{"name": "kernel.msgmax", "value": "1"}]}}) == {"UNSAFE_SYSCTL"}
}

test_host_path_flag_is_strict if {
	every flag in ["true", "false", 1, null] {
		cs := {v.code | some v in privilege.violations} with input as {"pod": {"spec": {"containers": [], "volumes": [{"name": "h", "hostPath": {"path": "/"}}]}}}
			with data.kubiya.settings as {"privilege": {"allowHostPath": flag}}
		cs == {"HOST_PATH_VOLUME"}
	}
}
