# METADATA
# title: Secrets
# description: |
#   Which Kubernetes Secrets a step may read (by reference: env secretRef and envFrom, in the main
#   container, sidecars and init containers), and no credential written as a literal: an env
#   variable whose name says it holds a credential (PASSWORD, TOKEN, API_KEY...) with a literal
#   value, or an env value, command or argument that looks like one (URL userinfo passwords,
#   Authorization headers, PEM private keys, cloud and SaaS tokens, JWTs) is SECRET_LITERAL: a
#   literal lands verbatim in the signed token, the WorkflowRun and the pod spec; a secretRef
#   does not. The patterns are data (data.kubiya.settings.secrets.credentials: RE2 regexes,
#   the same list the audit log masks with), so a security team extends them without Rego.
#   Settings: data.kubiya.settings.secrets.
package kubiya.rules.secrets

import data.kubiya.lib

settings := lib.section("secrets")

allowed := {s | some s in lib.list(settings, "allowedSecrets")}

references contains {"secret": value.secretRef.secret, "path": sprintf("%s.env.%s.secretRef.secret", [c.path, name])} if {
	some c in lib.step_containers
	some name, value in c.container.env
	is_object(value)
}

references contains {"secret": e.secret, "path": sprintf("step.envFrom[%d].secret", [i])} if {
	some i, e in input.step.envFrom
}

default credentials := {}

credentials := c if {
	c := settings.credentials
	is_object(c)
}

# The usable patterns: {id, pattern} objects whose pattern is a valid regex.
patterns(kind) := [p |
	some p in lib.list(credentials, kind)
	is_string(p.id)
	is_string(p.pattern)
	regex.is_valid(p.pattern)
]

name_patterns := patterns("envNames")

value_patterns := patterns("values")

# Every literal string of every container: env values (by name), command and args (by index).
literals contains {"path": sprintf("%s.env.%s", [c.path, name]), "name": name, "value": value} if {
	some c in lib.step_containers
	some name, value in c.container.env
	is_string(value)
	value != ""
}

literals contains {"path": sprintf("%s.%s[%d]", [c.path, field, i]), "name": "", "value": value} if {
	some c in lib.step_containers
	some field in ["command", "args"]
	some i, value in c.container[field]
	is_string(value)
	value != ""
}

# hits(l) are the ids of the patterns a literal matches: its name (env only) or its value.
hits(l) := array.concat(
	[p.id | some p in name_patterns; l.name != ""; regex.match(p.pattern, l.name)],
	[p.id | some p in value_patterns; regex.match(p.pattern, l.value)],
)

violations contains v if {
	some r in references
	not r.secret in allowed
	v := lib.violation("secrets", "SECRET_NOT_ALLOWED", r.path, sprintf("secret \"%s\" is not in the allowed secrets", [r.secret]))
}

# The message names the patterns, never the value (decisions are audited).
violations contains v if {
	some l in literals
	ids := hits(l)
	count(ids) > 0
	why := sprintf("looks like a credential written as a literal (%s)", [concat(", ", sort(ids))])
	msg := sprintf("%s %s; reference a Kubernetes Secret (env secretRef or envFrom) instead", [l.path, why])
	v := lib.violation("secrets", "SECRET_LITERAL", l.path, msg)
}

# A pattern that is not a valid regex (or not an {id, pattern} object) would match nothing: deny.
violations contains v if {
	some kind in ["envNames", "values"]
	some i, p in lib.list(credentials, kind)
	not valid_pattern(p)
	v := lib.violation("secrets", "POLICY_SETTINGS_INVALID", "", sprintf("secrets.credentials.%s[%d] is not an {id, pattern} with a valid regex", [kind, i]))
}

valid_pattern(p) if {
	is_string(p.id)
	is_string(p.pattern)
	regex.is_valid(p.pattern)
}
