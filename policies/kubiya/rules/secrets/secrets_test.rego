package kubiya.rules.secrets_test

import data.kubiya.rules.secrets

settings := {"secrets": {"allowedSecrets": ["aws-credentials"]}}

vs(step) := out if {
	out := {[v.code, v.path] | some v in secrets.violations} with input as {"step": step}
		with data.kubiya.settings as settings
}

test_plain_env_is_not_a_secret if vs({"name": "s", "image": "x:1", "env": {"A": "b"}}) == set()

test_allowed_secret if vs({"name": "s", "image": "x:1", "env": {"K": {"secretRef": {"secret": "aws-credentials", "key": "k"}}}}) == set()

test_other_secret if {
	vs({"name": "s", "image": "x:1", "env": {"K": {"secretRef": {"secret": "prod-db", "key": "k"}}}}) == {["SECRET_NOT_ALLOWED", "step.env.K.secretRef.secret"]}
}

test_env_from if vs({"name": "s", "image": "x:1", "envFrom": [{"secret": "prod-db"}]}) == {["SECRET_NOT_ALLOWED", "step.envFrom[0].secret"]}

test_sidecar_secret if {
	step := {"name": "s", "image": "x:1", "sidecars": [{"name": "db", "image": "pg:15", "env": {"P": {"secretRef": {"secret": "root-pw", "key": "p"}}}}]}
	vs(step) == {["SECRET_NOT_ALLOWED", "step.sidecars[0].env.P.secretRef.secret"]}
}

credentials := {
	"envNames": [{"id": "password", "pattern": "(?i:(^|_)(password|pass)(_|$))"}, {"id": "token", "pattern": "(?i:(^|_)token(_|$))"}],
	"values": [
		{"id": "url-userinfo-password", "pattern": "[A-Za-z][A-Za-z0-9+.-]*://[^/?#@ \\t\\r\\n:]*:[^/?#@ \\t\\r\\n$][^/?#@ \\t\\r\\n]*@"},
		{"id": "authorization-header", "pattern": "(?i:authorization[ \\t]*[:=][ \\t]*(bearer|basic)[ \\t]+[^ \\t\\r\\n$])"},
	],
}

literal(step) := out if {
	out := {[v.code, v.path, v.action] | some v in secrets.violations} with input as {"step": step}
		with data.kubiya.settings as {"secrets": {"credentials": credentials}}
}

test_literal_by_env_name if {
	literal({"name": "s", "env": {"DB_PASSWORD": "hunter2"}}) == {["SECRET_LITERAL", "step.env.DB_PASSWORD", "deny"]}
	literal({"name": "s", "env": {"DB_PASSWORD": ""}}) == set()
	literal({"name": "s", "env": {"PASSENGERS": "4"}}) == set()
}

test_literal_by_value_in_command_and_args if {
	literal({"name": "s", "command": ["psql", "postgres://u:p4ss@db/x"]}) == {["SECRET_LITERAL", "step.command[1]", "deny"]}
	literal({"name": "s", "args": ["-H", "Authorization: Bearer abc123"]}) == {["SECRET_LITERAL", "step.args[1]", "deny"]}
	literal({"name": "s", "args": ["-H", "Authorization: Bearer $TOKEN"]}) == set()
}

test_literal_in_every_container if {
	step := {
		"name": "s",
		"sidecars": [{"name": "db", "env": {"POSTGRES_PASSWORD": "temp"}}],
		"initContainers": [{"name": "dl", "args": ["https://x:y@h/p"]}],
	}
	literal(step) == {["SECRET_LITERAL", "step.sidecars[0].env.POSTGRES_PASSWORD", "deny"], ["SECRET_LITERAL", "step.initContainers[0].args[0]", "deny"]}
}

test_secret_reference_is_not_a_literal if literal({"name": "s", "env": {"DB_PASSWORD": {"secretRef": {"secret": "db", "key": "p"}}}}) == {["SECRET_NOT_ALLOWED", "step.env.DB_PASSWORD.secretRef.secret", "deny"]}

test_message_never_holds_the_value if {
	msgs := {v.message | some v in secrets.violations} with input as {"step": {"name": "s", "env": {"API_TOKEN": "sup3rs3cr3t"}}}
		with data.kubiya.settings as {"secrets": {"credentials": credentials}}
	count(msgs) == 1
	every m in msgs {
		not contains(m, "sup3rs3cr3t")
	}
}

test_enforcement_warn_and_audit if {
	every a in ["warn", "audit"] {
		vs := {v.action | some v in secrets.violations} with input as {"step": {"name": "s", "env": {"API_TOKEN": "x"}}}
			with data.kubiya.settings as {"secrets": {"credentials": credentials}, "enforcement": {"SECRET_LITERAL": a}}
		vs == {a}
	}
}

test_bad_patterns_deny if {
	every bad in [[{"id": "x", "pattern": "("}], ["PASSWORD"], [{"pattern": "x"}]] {
		cs := {v.code | some v in secrets.violations} with input as {"step": {"name": "s"}}
			with data.kubiya.settings as {"secrets": {"credentials": {"values": bad}}}
		cs == {"POLICY_SETTINGS_INVALID"}
	}
}

test_whole_text_anchors_are_checked_per_literal if {
	cs := {v.code | some v in secrets.violations} with input as {"step": {"name": "s", "args": ["ok", "hunter2"]}}
		with data.kubiya.settings as {"secrets": {"credentials": {"values": [{"id": "pw", "pattern": `\Ahunter2\z`}]}}}
	cs == {"SECRET_LITERAL"}
}

# A credential split over the words of a command line (REDTEAM 1): the joined line is checked,
# and a hit already reported at one word is not reported again for the line.
line_credentials := {"values": [
	{"id": "secret-flag-value", "pattern": "(?i:(^|[ \\t])--?[A-Za-z0-9_.-]{0,128}(password|token)[ \\t]+[^ \\t\\r\\n\"'$&;|<-])"},
	{"id": "url-userinfo-password", "pattern": "[A-Za-z][A-Za-z0-9+.-]{0,31}://[^/?#@ \\t\\r\\n:]*:[^/?@ \\t\\r\\n$][^/?@ \\t\\r\\n]*@"},
]}

line(step) := out if {
	out := {[v.code, v.path] | some v in secrets.violations} with input as {"step": step}
		with data.kubiya.settings as {"secrets": {"credentials": line_credentials}}
}

test_flag_then_value_across_words if {
	line({"name": "s", "command": ["mysql", "--password", "hunter2"]}) == {["SECRET_LITERAL", "step.command+args"]}
	line({"name": "s", "command": ["app", "--token"], "args": ["hunter2"]}) == {["SECRET_LITERAL", "step.command+args"]}
	line({"name": "s", "sidecars": [{"name": "x", "args": ["--password", "hunter2"]}]}) == {["SECRET_LITERAL", "step.sidecars[0].command+args"]}
}

test_flag_then_reference_or_option_is_allowed if {
	line({"name": "s", "command": ["app", "--token", "$TOKEN"]}) == set()
	line({"name": "s", "command": ["mysql", "--password", "-h", "db"]}) == set()
	line({"name": "s", "command": ["app", "--password-file", "/run/secrets/p"]}) == set()
	line({"name": "s", "command": ["--password"]}) == set()
}

test_word_hit_not_repeated_for_the_line if {
	line({"name": "s", "command": ["git", "clone", "https://u:p4ss@h/x"]}) == {["SECRET_LITERAL", "step.command[2]"]}
}

# REDTEAM-3 finding 1, as a class: every exec handler of the BUILT pod (any probe kind, a lifecycle
# hook, in a container or an init/native-sidecar container) is held to the literal policy, word by
# word and as a whole command line. The reported example: a sidecar's readiness probe (rendered as
# readinessProbe and startupProbe) with a bearer token.
pod_literal(pod) := out if {
	out := {[v.code, v.path] | some v in secrets.violations} with input as {"step": {"name": "s"}, "pod": pod}
		with data.kubiya.settings as {"secrets": {"credentials": credentials}}
}

exec_handlers := {
	"readinessProbe": {"readinessProbe": {"exec": {"command": ["sh", "-c", "curl -H 'Authorization: Bearer abc123' http://x"]}}},
	"startupProbe": {"startupProbe": {"exec": {"command": ["sh", "-c", "curl -H 'Authorization: Bearer abc123' http://x"]}}},
	"livenessProbe": {"livenessProbe": {"exec": {"command": ["sh", "-c", "curl -H 'Authorization: Bearer abc123' http://x"]}}},
	"lifecycle.postStart": {"lifecycle": {"postStart": {"exec": {"command": ["sh", "-c", "curl -H 'Authorization: Bearer abc123' http://x"]}}}},
	"lifecycle.preStop": {"lifecycle": {"preStop": {"exec": {"command": ["sh", "-c", "curl -H 'Authorization: Bearer abc123' http://x"]}}}},
}

test_literal_in_every_exec_handler_of_the_pod if {
	every name, handler in exec_handlers {
		every kind in ["containers", "initContainers"] {
			pod_literal({"spec": {kind: [object.union({"name": "c"}, handler)]}}) == {["SECRET_LITERAL", sprintf("pod.spec.%s[0].%s.exec.command[2]", [kind, name])]}
		}
	}
}

test_literal_across_the_words_of_an_exec_handler if {
	pod := {"spec": {"initContainers": [{"name": "pg", "readinessProbe": {"exec": {"command": ["curl", "-H", "Authorization:", "Bearer", "abc123"]}}}]}}
	pod_literal(pod) == {["SECRET_LITERAL", "pod.spec.initContainers[0].readinessProbe.exec.command[*]"]}
}

test_benign_exec_handler if {
	pod := {"spec": {"initContainers": [{"name": "pg", "readinessProbe": {"exec": {"command": ["pg_isready", "-U", "postgres"]}}, "startupProbe": {"exec": {"command": ["pg_isready"]}}}]}}
	pod_literal(pod) == set()
}
