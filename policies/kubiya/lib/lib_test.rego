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
	lib.quantity(4) == 4
	lib.quantity("0Mi") == 0
}

test_malformed_quantities_are_undefined if {
	every q in ["", "x", "1 Gi", "Gi", "-1", "1e3", true, null, [1], {}] {
		not lib.quantity(q)
	}
}

test_zero_is_not_positive if {
	lib.positive("1m")
	every q in ["0", 0, "0Mi", "0.0", "0m", "x", null] {
		not lib.positive(q)
	}
}

test_within_fails_closed if {
	lib.within("1Gi", "2Gi")
	lib.within("2Gi", "2Gi")
	not lib.within("3Gi", "2Gi")
	not lib.within("1Gi", "two")
	not lib.within("lots", "2Gi")
	lib.within("1", 4)
}

test_action_defaults_to_deny if {
	lib.action("X") == "deny" with data.kubiya.settings as {}
	lib.action("X") == "warn" with data.kubiya.settings as {"enforcement": {"X": "warn"}}
	lib.action("X") == "audit" with data.kubiya.settings as {"enforcement": {"X": "audit"}}
}

# Any action that is not exactly deny, warn or audit is deny: never a malformed decision.
test_action_strict if {
	every a in ["Deny", "dryrun", "deny ", "WARN", "", null, 1, true, ["warn"], {"warn": true}] {
		lib.action("X") == "deny" with data.kubiya.settings as {"enforcement": {"X": a}}
	}
	every e in [null, [], "warn", 1] {
		lib.action("X") == "deny" with data.kubiya.settings as {"enforcement": e}
	}
}

# Guard, egress and service account codes are never downgraded, whatever the (unchecked) data says.
test_locked_codes_are_always_deny if {
	count(lib.locked_codes) == 9
	lib.action("IMAGE_DENIED") == "warn" with data.kubiya.settings as {"enforcement": {"IMAGE_DENIED": "warn"}}
	every code in lib.locked_codes {
		every a in ["warn", "audit", "deny"] {
			lib.action(code) == "deny" with data.kubiya.settings as {"enforcement": {code: a}}
		}
	}
}

test_relaxing_flags_are_strict if {
	lib.enabled({"f": true}, "f")
	not lib.enabled({}, "f")
	every v in ["true", "false", 1, 0, "", null, [true], {}] {
		not lib.enabled({"f": v}, "f")
	}
}

test_tightening_flags_are_strict if {
	not lib.not_disabled({"f": false}, "f")
	not lib.not_disabled({}, "f")
	every v in ["false", true, "true", 0, null] {
		lib.not_disabled({"f": v}, "f")
	}
}

test_typed_getters if {
	lib.section("images") == {} with data.kubiya.settings as {"images": ["docker.io"]}
	lib.section("images") == {"a": 1} with data.kubiya.settings as {"images": {"a": 1}}
	lib.list({"l": "x"}, "l") == []
	lib.list({"l": ["x"]}, "l") == ["x"]
	lib.number({"n": "1"}, "n", 0) == 0
	lib.number({"n": 2}, "n", 0) == 2
	lib.has_key({"k": false}, "k")
	not lib.has_key({}, "k")
}

# has_key is one lookup (issue 20 §2); it answers as the scan of every key it replaced, for every
# kind of value (false, null, zero, empty ones), container (object, array, set, string, number)
# and key (present, absent, another type, an index).
has_key_scan(obj, key) if {
	some k, _ in obj
	k == key
}

test_has_key_answers_as_the_scan if {
	values := [false, null, 0, "", [], {}, set(), true, 1, "v", ["x"], {"a": 1}]
	objects := array.concat(
		[{"k": v} | some v in values],
		[{}, {"other": 1}, {"k": false, "j": null}, ["k"], [0, 1], {"k"}, {1, 2}, set(), [], "k", 1, null, false],
	)
	keys := ["k", "j", "other", 0, 1, 2, "0", false, null, "a"]
	answers := [[i, key, lib.has_key(o, key)] |
		some i, o in objects
		some key in keys
	]
	scanned := [[i, key, has_key_scan(o, key)] |
		some i, o in objects
		some key in keys
	]
	answers == scanned
	count([1 | some a in answers; a[2]]) >= 15
}

test_containers if {
	count(lib.pod_containers) == 3 with input as {"pod": {"spec": {"containers": [{}, {}], "initContainers": [{}]}}}
	count(lib.step_containers) == 3 with input as {"step": {"sidecars": [{}], "initContainers": [{}]}}
}

# keyed/duplicated (REDTEAM-3 finding 7): duplicates are left out, never an object insert conflict.
test_keyed_leaves_out_duplicates if {
	l := [{"name": "a", "x": 1}, {"name": "b"}, {"name": "a", "x": 2}, {"name": 3}, "s", {"name": "c"}, {"name": "c"}]
	lib.keyed(l, "name") == {"b": {"name": "b"}}
	lib.duplicated(l, "name") == {"a", "c"}
	lib.duplicated([{"name": "a"}, {"name": "b"}], "name") == set()
	lib.keyed([], "name") == {}
}
