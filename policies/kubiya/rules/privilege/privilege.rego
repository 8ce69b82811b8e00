# METADATA
# title: Privilege
# description: |
#   What a pod may ask of its node: no privileged containers, no privilege escalation, no host
#   namespaces, hostPath or hostPort, no capabilities beyond the allowed set, no root, default
#   /proc mount, only safe sysctls. Checked on the pod as built from the step, before hardening.
#   Settings: data.kubiya.settings.privilege.
package kubiya.rules.privilege

import data.kubiya.lib

settings := lib.section("privilege")

allowed_capabilities := {c | some c in lib.list(settings, "allowedCapabilities")}

allowed_sysctls := {s | some s in lib.list(settings, "allowedSysctls")}

runs_as_root(sc) if sc.runAsUser == 0

runs_as_root(sc) if sc.runAsNonRoot == false

violations contains v if {
	some c in lib.pod_containers
	c.container.securityContext.privileged == true
	v := lib.violation("privilege", "PRIVILEGED_CONTAINER", sprintf("%s.securityContext.privileged", [c.path]), sprintf("container \"%s\" asks to run privileged", [c.container.name]))
}

violations contains v if {
	some c in lib.pod_containers
	c.container.securityContext.allowPrivilegeEscalation == true
	v := lib.violation("privilege", "PRIVILEGE_ESCALATION", sprintf("%s.securityContext.allowPrivilegeEscalation", [c.path]), sprintf("container \"%s\" allows privilege escalation", [c.container.name]))
}

violations contains v if {
	some field in ["hostNetwork", "hostPID", "hostIPC"]
	input.pod.spec[field] == true
	v := lib.violation("privilege", "HOST_NAMESPACE", sprintf("pod.spec.%s", [field]), sprintf("the pod asks for %s", [field]))
}

violations contains v if {
	not lib.enabled(settings, "allowHostPath")
	some i, vol in input.pod.spec.volumes
	vol.hostPath
	v := lib.violation("privilege", "HOST_PATH_VOLUME", sprintf("pod.spec.volumes[%d].hostPath", [i]), sprintf("volume \"%s\" mounts a host path", [vol.name]))
}

violations contains v if {
	some c in lib.pod_containers
	some j, port in c.container.ports
	object.get(port, "hostPort", 0) != 0
	v := lib.violation("privilege", "HOST_PORT", sprintf("%s.ports[%d].hostPort", [c.path, j]), sprintf("container \"%s\" binds host port %d", [c.container.name, port.hostPort]))
}

violations contains v if {
	some c in lib.pod_containers
	some cap in c.container.securityContext.capabilities.add
	not cap in allowed_capabilities
	v := lib.violation("privilege", "CAPABILITY_NOT_ALLOWED", sprintf("%s.securityContext.capabilities.add", [c.path]), sprintf("container \"%s\" adds capability %s, which is not allowed", [c.container.name, cap]))
}

violations contains v if {
	some c in lib.pod_containers
	runs_as_root(c.container.securityContext)
	v := lib.violation("privilege", "RUN_AS_ROOT", sprintf("%s.securityContext", [c.path]), sprintf("container \"%s\" asks to run as root", [c.container.name]))
}

violations contains v if {
	runs_as_root(input.pod.spec.securityContext)
	v := lib.violation("privilege", "RUN_AS_ROOT", "pod.spec.securityContext", "the pod asks to run as root")
}

violations contains v if {
	some c in lib.pod_containers
	c.container.securityContext.procMount == "Unmasked"
	v := lib.violation("privilege", "PROC_MOUNT_UNMASKED", sprintf("%s.securityContext.procMount", [c.path]), sprintf("container \"%s\" asks for an unmasked /proc", [c.container.name]))
}

violations contains v if {
	some i, s in input.pod.spec.securityContext.sysctls
	not s.name in allowed_sysctls
	v := lib.violation("privilege", "UNSAFE_SYSCTL", sprintf("pod.spec.securityContext.sysctls[%d]", [i]), sprintf("sysctl %s is not in the safe set", [s.name]))
}
