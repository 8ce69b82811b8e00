# METADATA
# title: Sidecar ports and readiness
# description: |
#   A sidecar's readiness probe must be of a kind in data.kubiya.settings.sidecars.allowedProbes
#   (default: tcpSocket and exec; never HTTP, never a host: the schema has neither), and its ports
#   must be 1024 or above unless allowPrivilegedPorts is exactly true (below 1024 needs
#   NET_BIND_SERVICE, which the restricted profile drops). Settings: data.kubiya.settings.sidecars.
package kubiya.rules.sidecars

import data.kubiya.lib

settings := lib.section("sidecars")

default_probes := ["tcpSocket", "exec"]

allowed_probes contains p if {
	some p in object.get(settings, "allowedProbes", default_probes)
	is_string(p)
}

violations contains v if {
	some i, s in input.step.sidecars
	some kind, _ in s.readinessProbe
	kind in {"tcpSocket", "exec", "httpGet", "grpc"}
	not kind in allowed_probes
	v := lib.violation("sidecars", "SIDECAR_PROBE_NOT_ALLOWED", sprintf("step.sidecars[%d].readinessProbe.%s", [i, kind]), sprintf("sidecar \"%v\": a %s readiness probe is not in sidecars.allowedProbes", [s.name, kind]))
}

violations contains v if {
	not lib.enabled(settings, "allowPrivilegedPorts")
	some i, s in input.step.sidecars
	some j, p in s.ports
	not p.port >= 1024
	v := lib.violation("sidecars", "SIDECAR_PORT_PRIVILEGED", sprintf("step.sidecars[%d].ports[%d]", [i, j]), sprintf("sidecar \"%v\" declares port %v, below 1024", [s.name, p.port]))
}
