package kubiya.rules.sidecars_test

import data.kubiya.rules.sidecars

codes(step, s) := cs if {
	cs := {v.code | some v in sidecars.violations} with input as {"step": step}
		with data.kubiya.settings as s
}

pg := {"name": "db", "image": "postgres:15", "ports": [{"port": 5432}], "readinessProbe": {"tcpSocket": {"port": 5432}}}

test_defaults_allow_tcp_and_exec if {
	codes({"sidecars": [pg]}, {}) == set()
	codes({"sidecars": [{"name": "db", "readinessProbe": {"exec": {"command": ["pg_isready"]}}}]}, {}) == set()
}

test_probe_kind_not_allowed if {
	codes({"sidecars": [pg]}, {"sidecars": {"allowedProbes": ["exec"]}}) == {"SIDECAR_PROBE_NOT_ALLOWED"}
	codes({"sidecars": [pg]}, {"sidecars": {"allowedProbes": []}}) == {"SIDECAR_PROBE_NOT_ALLOWED"}
}

test_http_probe_never_in_defaults if codes({"sidecars": [{"name": "w", "readinessProbe": {"httpGet": {"port": 80}}}]}, {}) == {"SIDECAR_PROBE_NOT_ALLOWED"}

test_privileged_port if {
	step := {"sidecars": [{"name": "web", "ports": [{"port": 80}]}]}
	codes(step, {}) == {"SIDECAR_PORT_PRIVILEGED"}
	codes(step, {"sidecars": {"allowPrivilegedPorts": "true"}}) == {"SIDECAR_PORT_PRIVILEGED"}
	codes(step, {"sidecars": {"allowPrivilegedPorts": true}}) == set()
}
