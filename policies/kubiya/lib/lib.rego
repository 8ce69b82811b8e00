# METADATA
# title: Shared helpers
# description: Helpers every policy package uses (enforcement action, quantities, containers).
package kubiya.lib

# settings is data.kubiya.settings, or {} when a bundle has none: every package then falls back to
# its strictest reading (no registry, secret or destination allowed), and main denies outright.
default settings := {}

settings := data.kubiya.settings if has_settings

default has_settings := false

has_settings if is_object(data.kubiya.settings)

# section(name) is the settings object data.kubiya.settings[name], or {} when it is absent or not
# an object (main then denies with POLICY_SETTINGS_INVALID): a wrongly typed section never makes a
# rule undefined, which would silently drop its violations.
section(name) := s if {
	s := settings[name]
	is_object(s)
} else := {}

# enabled(s, key) is true only when the flag is exactly true: "true", "false", 1, null and a
# missing key all read as false. Flags that *relax* a rule (allowAnyDestination, allowHostPath...)
# are read with it, so unchecked data can never flip a default-deny.
enabled(s, key) if object.get(s, key, false) == true

# not_disabled(s, key) is true unless the flag is exactly false: flags that *tighten* a rule
# (requireDigest) stay on for any value but false.
not_disabled(s, key) if object.get(s, key, false) != false

# list(s, key) is the array s[key], or [] when it is absent or not an array.
list(s, key) := l if {
	l := s[key]
	is_array(l)
} else := []

# number(s, key, d) is the number s[key], or d when it is absent or not a number ("1" is not 1).
number(s, key, d) := n if {
	n := s[key]
	is_number(n)
} else := d

# has_key(obj, key): obj has key, whatever its value (false and null included). One lookup, not a
# scan of every key (issue 20 §2: input.pod.spec and the settings sections were scanned on each
# call): a value looked up is defined whatever it is, false included, and equals itself.
has_key(obj, key) if obj[key] == obj[key]

actions := {"deny", "warn", "audit"}

# locked_codes are the codes whose action is always "deny", whatever enforcement says (the
# settings schema refuses enforcement keys for them; this is defence in depth for unchecked data).
# Guards: POLICY_SETTINGS_MISSING and POLICY_SETTINGS_INVALID (the policy cannot read its own
# settings), IMAGE_REFERENCE_INVALID (an image the grammar refuses is seen by no allow or deny
# entry). Grants: the EGRESS_* codes, because the decision's egress list is what the runner opens
# in the step's NetworkPolicy, so a "warn" on them is not a dry run but an open door; likewise the
# SERVICE_ACCOUNT_* codes, whose "warn" would run the step as that identity. The same list
# is LOCKED_CODES in src/policy/settings.ts (test/unit/settings.test.ts compares them).
locked_codes := {
	"EGRESS_ANY_DESTINATION",
	"EGRESS_NOT_ALLOWED",
	"EGRESS_WILDCARD_HOST",
	"IMAGE_REFERENCE_INVALID",
	"POLICY_SETTINGS_INVALID",
	"POLICY_SETTINGS_MISSING",
	"SERVICE_ACCOUNT_NOT_ALLOWED",
	"SERVICE_ACCOUNT_TOKEN_NOT_ALLOWED",
	"SERVICE_ACCOUNT_TOKEN_TOO_LONG",
}

# action(code) is the enforcement action of a violation code: "deny" unless
# data.kubiya.settings.enforcement says exactly "warn" or "audit" (Gatekeeper's enforcement
# actions) and the code is not locked. Anything else ("Deny", "dryrun", "deny ", null, a number)
# reads as "deny".
action(code) := a if {
	not code in locked_codes
	a := section("enforcement")[code]
	a in actions
} else := "deny"

# violation builds one violation document.
violation(policy, code, path, message) := {
	"code": code,
	"message": message,
	"path": path,
	"policy": policy,
	"action": action(code),
}

binary_suffixes := {"Ki": 1024, "Mi": 1048576, "Gi": 1073741824, "Ti": 1099511627776, "Pi": 1125899906842624, "Ei": 1152921504606846976}

decimal_suffixes := {"k": 1000, "M": 1000000, "G": 1000000000, "T": 1000000000000, "P": 1000000000000000, "E": 1000000000000000000}

# quantity(q) is a Kubernetes quantity ("500m", "256Mi", "2", "1G", or a number such as 4) as a
# number of base units; undefined when q is neither. (Quantities come schema-checked; suffix
# tests are much cheaper in WASM than a regex.) A string is a decimal number followed by its
# suffix: no suffix holds a digit or a dot, so the suffix is what is left once the leading digits
# and dots are trimmed, and one lookup finds its factor (issue #20: trying each of the 13 suffixes
# in turn was 9 % of an evaluation).
quantity(q) := q if is_number(q)

else := quantity_of(trim_left(q, "0123456789."), q) if is_string(q)

# quantity_of(suffix, q): the string q, whose suffix (trimmed of leading digits and dots) is `suffix`.
# An else chain: WASM evaluates every body of a function on each call (issue #20 §2); the suffixes
# of the four bodies are disjoint.
quantity_of(suffix, q) := number_part(q) if suffix == ""

else := number_part(trim_suffix(q, "m")) / 1000 if suffix == "m"

else := number_part(trim_suffix(q, suffix)) * factor if factor := binary_suffixes[suffix]

else := number_part(trim_suffix(q, suffix)) * factor if factor := decimal_suffixes[suffix]

number_part(s) := to_number(s) if decimal(s)

# decimal(s): s is digits, optionally "." and more digits ("1", "0.5"; not "", ".5", "1.", "1e3", "-1").
# String tests, not a regex: quantities are read many times per decision and regex.match is slow in WASM.
# An else chain: digits alone (most quantities) need no split (issue 20 §2); the second body is the
# whole test, so the chain holds exactly when it does.
decimal(s) if {
	s != ""
	trim_left(s, "0123456789") == ""
} else if {
	parts := split(s, ".")
	count(parts) <= 2
	every p in parts {
		p != ""
		trim_left(p, "0123456789") == ""
	}
}

# positive(q): q is a quantity above zero. "0", 0, "0Mi" and "0.0" are not limits or requests (the
# runtime reads a zero limit as none), so a rule that requires one treats them as absent.
positive(q) if quantity(q) > 0

# within(asked, cap): asked is a quantity not above cap. False when either does not parse, so a
# malformed cap or request is over the cap (fail closed), never within it.
within(asked, cap) if quantity(asked) <= quantity(cap)

# indexed(path, i) is path[i] (an array element's path). concat and format_int run inside WASM;
# sprintf calls out to JavaScript: paths built on every evaluation (the allow path) use these,
# messages (built only for a violation) keep sprintf.
indexed(path, i) := concat("", [path, "[", word(i), "]"])

# word(x) is a path element as text: an object key as it is, an array index in decimal (what
# sprintf's %v gives for both).
word(x) := x if is_string(x)

else := format_int(x, 10) if is_number(x)

# pod_containers lists every container of the pod under review with its path. An array, not a
# set: a set of objects is hashed whole on every step of every iteration over it (issue 20 §2).
pod_containers := array.concat(
	[{"container": c, "path": indexed("pod.spec.containers", i)} | some i, c in input.pod.spec.containers],
	[{"container": c, "path": indexed("pod.spec.initContainers", i)} | some i, c in input.pod.spec.initContainers],
)

# step_containers lists the step's own container specs (main, sidecars, init) with their paths (an array, as above).
step_containers := array.concat(
	array.concat(
		[{"container": s, "path": "step"} | s := input.step],
		[{"container": c, "path": indexed("step.sidecars", i)} | some i, c in input.step.sidecars],
	),
	[{"container": c, "path": indexed("step.initContainers", i)} | some i, c in input.step.initContainers],
)

# keyed(l, key): the objects of list l that have a string `key`, as an object by that key, leaving
# out every key that more than one entry has. An allowlist keyed by name (pullSecrets.allowed,
# serviceAccounts.allowed) with a name twice is refused by the settings schema; unchecked data
# must still not make every evaluation fail ("object insert conflict", REDTEAM-3 finding 7): the
# packages deny with POLICY_SETTINGS_INVALID for each name in duplicated(l, key) instead.
keyed(l, key) := {k: e |
	some e in l
	is_object(e)
	k := e[key]
	is_string(k)
	not k in duplicated(l, key)
}

key_values(l, key) := [k | some e in l; is_object(e); k := e[key]; is_string(k)]

# duplicated(l, key): the values of `key` that more than one entry of l has (quadratic only when
# there is a duplicate).
duplicated(l, key) := set() if {
	ks := key_values(l, key)
	count(ks) == count({k | some k in ks})
}

duplicated(l, key) := {k | some i, k in ks; some j, m in ks; i < j; k == m} if {
	ks := key_values(l, key)
	count(ks) != count({k | some k in ks})
}
