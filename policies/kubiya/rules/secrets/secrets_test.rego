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

# Issue 19 item 7: a sidecar's exec readiness probe is checked like a command (word and line).
probe(cmd) := {"sidecars": [{"name": "db", "image": "postgres:15", "readinessProbe": {"exec": {"command": cmd}}}]}

test_probe_exec_command_literal if {
	word := {v.path | some v in secrets.violations; v.code == "SECRET_LITERAL"} with input as {"step": probe(["psql", "postgres://app:hunter2@localhost/app"])}
	word == {"step.sidecars[0].readinessProbe.exec.command[1]"}
	line := {v.path | some v in secrets.violations; v.code == "SECRET_LITERAL"} with input as {"step": probe(["mysqladmin", "ping", "-u", "root", "-phunter2"])}
	count(line) > 0
	clean := {v.path | some v in secrets.violations; v.code == "SECRET_LITERAL"} with input as {"step": probe(["pg_isready", "-U", "postgres"])}
	clean == set()
}
