# METADATA
# title: Secrets
# description: |
#   Which Kubernetes Secrets a step may read (by reference: env secretRef and envFrom, in the main
#   container, sidecars and init containers), and no credential written as a literal: an env
#   variable whose name says it holds a credential (PASSWORD, TOKEN, API_KEY...) with a literal
#   value, or an env value, command, argument or exec handler word (probes: every exec command of
#   the built pod) that looks like one (URL userinfo passwords,
#   Authorization headers, PEM private keys, cloud and SaaS tokens, JWTs) is SECRET_LITERAL: a
#   literal lands verbatim in the signed token, the WorkflowRun and the pod spec; a secretRef
#   does not. The patterns are data (data.kubiya.settings.secrets.credentials: RE2 regexes,
#   the same list the audit log masks with), so a security team extends them without Rego.
#   Settings: data.kubiya.settings.secrets.
package kubiya.rules.secrets

import data.kubiya.lib

settings := lib.section("secrets")

allowed := {s | some s in lib.list(settings, "allowedSecrets")}

default credentials := {}

credentials := c if {
	c := settings.credentials
	is_object(c)
}

# The patterns: {id, pattern} objects with string fields (validity is checked once, below).
patterns(kind) := [p |
	some p in lib.list(credentials, kind)
	well_typed(p)
]

well_typed(p) if {
	is_string(p.id)
	is_string(p.pattern)
}

# The well-typed patterns of each kind as {id, pattern, keywords}: keywords are the prefilter's
# (prefilter_keywords.rego) for a default pattern, null for any other. Settings only: derived once
# per loaded data where the runner did so (data.kubiya.derived, main/derived.rego), else built on
# each evaluation. The keywords ride with each pattern, so the prefilter looks nothing up by the
# pattern's text on an evaluation (issue 20 §2: hashing each pattern's text was ~7 % of one).
name_patterns := d if d := data.kubiya.derived.secrets.name_patterns

else := with_keywords(patterns("envNames"))

value_patterns := d if d := data.kubiya.derived.secrets.value_patterns

else := with_keywords(patterns("values"))

with_keywords(ps) := [{"id": p.id, "pattern": p.pattern, "keywords": object.get(keywords, p.pattern, null)} | some p in ps]

# ill_typed: [kind, index] of each pattern that is not an {id, pattern} object with string fields
# (settings only: derived once per loaded data like the patterns).
ill_typed := d if d := data.kubiya.derived.secrets.ill_typed

else := [[kind, i] |
	some kind in ["envNames", "values"]
	some i, p in lib.list(credentials, kind)
	not well_typed(p)
]

# The patterns in use by the kind's settings key.
in_use := {"envNames": name_patterns, "values": value_patterns}

# Every exec handler of every container of the POD the runner built (probes today: a sidecar's
# readinessProbe.exec.command is rendered as its readinessProbe AND startupProbe; lifecycle hooks or
# any other exec field tomorrow): every `exec: {command: [...]}` object anywhere in a container.
# Walking the built pod rather than naming the step's fields means a new exec field is covered the
# day the pod builder renders it (REDTEAM-3 finding 1). A container whose JSON text holds no "exec"
# (with its quotes: what a key named exec always serializes to) has no such object: it is not walked
# (issue 20 §2: the walk builds a path for every node of every container).
exec_commands contains {"path": concat("", [c.path, ".", dotted(p), ".command"]), "words": cmd} if {
	some c in lib.pod_containers
	contains(json.marshal(c.container), `"exec"`)
	walk(c.container, [p, node])
	count(p) > 0
	p[count(p) - 1] == "exec"
	cmd := node.command
	is_array(cmd)
}

dotted(p) := concat(".", [lib.word(x) | some x in p])

# Every literal string of every container: env values (by name), command and args (by index), exec handler words.
literals contains {"path": concat("", [c.path, ".env.", lib.word(name)]), "container": c.path, "name": name, "value": value} if {
	some c in lib.step_containers
	some name, value in c.container.env
	is_string(value)
	value != ""
}

literals contains {"path": lib.indexed(concat(".", [c.path, field]), i), "container": c.path, "name": "", "value": value} if {
	some c in lib.step_containers
	some field in ["command", "args"]
	some i, value in c.container[field]
	is_string(value)
	value != ""
}

literals contains {"path": lib.indexed(e.path, i), "container": e.path, "name": "", "value": value} if {
	some e in exec_commands
	some i, value in e.words
	is_string(value)
	value != ""
}

# A container's whole command line (command then args, joined by single spaces), so a credential
# split over two words is seen too: a secret-named flag in one word and its value in the next
# (["--password", "hunter2"], also from the last word of command to the first of args), or
# ["mysql", "-u", "root", "-phunter2"], ["curl", "-u", "admin:hunter2"]. The value patterns
# decide (secret-flag-value, mysql-password-option, curl-user-password, ...): the same list the
# audit log masks with (src/audit/mask.ts checks the same joined line).
command_lines contains {"path": concat("", [c.path, ".command+args"]), "container": c.path, "value": concat(" ", words)} if {
	some c in lib.step_containers
	words := [w | some field in ["command", "args"]; some w in c.container[field]; is_string(w)]
	count(words) > 1
}

# An exec handler's whole command line, for the same reason.
command_lines contains {"path": concat("", [e.path, "[*]"]), "container": e.path, "value": concat(" ", words)} if {
	some e in exec_commands
	words := [w | some w in e.words; is_string(w)]
	count(words) > 1
}

# A prefilter, for speed (WASM compiles each pattern it runs once per EVALUATION: the default
# list costs ~10 ms per decision to compile). Two stages, each a necessary condition of a match:
#
# 1. Keywords (prefilter_keywords.rego): a default pattern, recognised by its exact text, matches
#    only strings holding one of its keywords; a pattern whose keywords are all absent from the
#    joined literals cannot match any literal, so it is not compiled. A pattern with no keywords
#    (an operator's own, or a default edited by one character) is always a candidate, so it is
#    compiled and an invalid one still denies below. Text is folded as RE2's (?i) folds it.
# 2. ONE match of the candidate patterns of a kind, as a multi-line alternation, against all
#    literals joined by newlines. It can only over-match (the exact per-literal check below then
#    decides), never miss: "(?m)" lets ^ and $ match at every literal's start and end, and a match
#    inside one literal is a match of the joined text. The match is undefined when a pattern is
#    not a valid regex: then the policy denies.
any_pattern(ps) := concat("", ["(?m:", concat("|", [concat("", ["(?:", p.pattern, ")"]) | some p in ps]), ")"])

# The texts the prefilter reads: the values of every literal and command line, and the names of
# the env literals, built straight from the containers: a literal's and a line's path is needed only
# for a violation, so the path-carrying sets (literals, command_lines) are built only when the
# prefilter finds a candidate match (issue 20 §2: on the allow path they were ~10 % of an
# evaluation). Each holds the same strings as the sets give, as many times (every path is distinct,
# so no two elements of a set are equal), in another order: the order does not change the
# prefilter's answer (a pattern that matches one literal alone matches inside the joined text,
# wherever it stands; see the prefilter below), which only gates the exact check.
value_text := concat("\n", array.concat(literal_values, line_values))

literal_values := array.concat(
	[value |
		some c in lib.step_containers
		some value in c.container.env
		is_string(value)
		value != ""
	],
	array.concat(
		[value |
			some c in lib.step_containers
			some field in ["command", "args"]
			some value in c.container[field]
			is_string(value)
			value != ""
		],
		[value |
			some e in exec_commands
			some value in e.words
			is_string(value)
			value != ""
		],
	),
)

line_values := array.concat(
	[line |
		some c in lib.step_containers
		words := [w | some field in ["command", "args"]; some w in c.container[field]; is_string(w)]
		count(words) > 1
		line := concat(" ", words)
	],
	[line |
		some e in exec_commands
		words := [w | some w in e.words; is_string(w)]
		count(words) > 1
		line := concat(" ", words)
	],
)

name_text := concat("\n", [name |
	some c in lib.step_containers
	some name, value in c.container.env
	is_string(value)
	value != ""
	name != ""
])

value_candidates := candidates(value_patterns, value_text)

name_candidates := candidates(name_patterns, name_text)

candidates(ps, text) := [p | some p in ps; candidate(p, folded)] if folded := fold(text)

# candidate(p, folded): one of p's keywords is in the folded text, or p has none (null: not a
# default pattern, always a candidate).
candidate(p, folded) if {
	some k in p.keywords
	contains(folded, k)
} else if {
	p.keywords == null
}

prefilter["values"] := regex.match(any_pattern(value_candidates), value_text) if count(value_candidates) > 0

prefilter["values"] := false if count(value_candidates) == 0

prefilter["names"] := regex.match(any_pattern(name_candidates), name_text) if count(name_candidates) > 0

prefilter["names"] := false if count(name_candidates) == 0

suspect if true in prefilter

# \A and \z anchor to the whole text, which the joined literals are not: no prefilter for those.
# (The settings schema refuses them — JavaScript has neither — so only unchecked data gets here.)
# Nor for a pattern that turns multi-line mode off, whose ^ and $ then do the same (the schema
# accepts that: see holds_anchor).
# One test of all the patterns' text joined (issue #20 §2: a test per pattern and anchor was ~10 %
# of an evaluation). The newline joining them makes no anchor that no pattern holds, and a pattern
# holding one holds it in the joined text; suspect only gates the exact per-literal check (hits).
suspect if anchored

# anchored: some pattern holds \A or \z, or turns multi-line mode off (settings only: derived once per loaded data where the
# runner did so, data.kubiya.derived, main/derived.rego).
anchored := d if d := data.kubiya.derived.secrets.anchored

else := holds_anchor

default holds_anchor := false

holds_anchor if {
	some anchor in [`\A`, `\z`]
	contains(pattern_text, anchor)
}

# A flag group that turns multi-line mode off ("(?-m:^x$)", "(?i-m:", "(?-sm)"): inside it ^ and $
# anchor to the whole text again, which the joined literals are not, so a literal matched alone
# would be missed by the prefilter whenever another literal comes before it (red team 12, finding
# 2: the settings schema accepts "(?-m:...)", JavaScript's regex modifiers). String tests, no regex:
# the flags are the run of [imsU-] after each "(?"; multi-line is off when an m follows its "-".
# Only patterns without keywords (an operator's, or an edited default): no default pattern turns
# it off (test/policies/redteam12-prefilter-flags.test.ts checks data.json), and skipping them
# keeps this off an evaluation without the derived document (BENCHMARKS.md, red team 12).
holds_anchor if {
	some p in array.concat(value_patterns, name_patterns)
	p.keywords == null
	some piece in array.slice(split(p.pattern, "(?"), 1, count(p.pattern) + 1)
	flags := substring(piece, 0, count(piece) - count(trim_left(piece, "imsU-")))
	dash := indexof(flags, "-")
	dash >= 0
	contains(substring(flags, dash, -1), "m")
}

pattern_text := concat("\n", [p.pattern | some p in array.concat(value_patterns, name_patterns)])

decided(kind) if prefilter[kind] in {true, false}

# hits(l) are the ids of the patterns a literal matches: its name (env only) or its value. Only
# candidates are tried: a pattern that is not one cannot match any literal (see the prefilter).
hits(l) := array.concat(
	[p.id | some p in name_candidates; l.name != ""; regex.match(p.pattern, l.name)],
	[p.id | some p in value_candidates; regex.match(p.pattern, l.value)],
)

# A command line's hits that no single word of the same container already has (those are reported
# at the word's own path).
line_hits(line) := {id | some id in [p.id | some p in value_candidates; regex.match(p.pattern, line.value)]} - {id |
	some l in literals
	l.container == line.container
	l.name == ""
	some id in hits(l)
}

# A secret referenced (env secretRef, envFrom) that is not allowed. The path is built only for a
# violation (issue 20 §2: a set of {secret, path} built on every evaluation).
violations contains v if {
	some c in lib.step_containers
	some name, value in c.container.env
	is_object(value)
	secret := value.secretRef.secret
	not secret in allowed
	path := concat("", [c.path, ".env.", lib.word(name), ".secretRef.secret"])
	v := lib.violation("secrets", "SECRET_NOT_ALLOWED", path, sprintf("secret \"%s\" is not in the allowed secrets", [secret]))
}

violations contains v if {
	some i, e in input.step.envFrom
	secret := e.secret
	not secret in allowed
	path := concat("", [lib.indexed("step.envFrom", i), ".secret"])
	v := lib.violation("secrets", "SECRET_NOT_ALLOWED", path, sprintf("secret \"%s\" is not in the allowed secrets", [secret]))
}

# The message names the patterns, never the value (decisions are audited).
violations contains v if {
	suspect
	some l in literals
	ids := hits(l)
	count(ids) > 0
	why := sprintf("looks like a credential written as a literal (%s)", [concat(", ", sort(ids))])
	msg := sprintf("%s %s; reference a Kubernetes Secret (env secretRef or envFrom) instead", [l.path, why])
	v := lib.violation("secrets", "SECRET_LITERAL", l.path, msg)
}

violations contains v if {
	suspect
	some line in command_lines
	ids := line_hits(line)
	count(ids) > 0
	why := sprintf("looks like a credential written as a literal, across words of the command line (%s)", [concat(", ", sort(ids))])
	msg := sprintf("%s %s; reference a Kubernetes Secret (env secretRef or envFrom) instead", [line.path, why])
	v := lib.violation("secrets", "SECRET_LITERAL", line.path, msg)
}

# A pattern that is not an {id, pattern} object, or not a valid regex, would match nothing: deny.
violations contains v if {
	some pair in ill_typed
	[kind, i] := pair
	v := lib.violation("secrets", "POLICY_SETTINGS_INVALID", "", sprintf("secrets.credentials.%s[%d] is not an {id, pattern} object", [kind, i]))
}

violations contains v if {
	some kind, key in {"envNames": "names", "values": "values"}
	count(in_use[kind]) > 0
	not decided(key)
	v := lib.violation("secrets", "POLICY_SETTINGS_INVALID", "", sprintf("secrets.credentials.%s holds a pattern that is not a valid regular expression", [kind]))
}
