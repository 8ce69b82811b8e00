package kubiya.rules.egress_test

import data.kubiya.rules.egress

settings := {"egress": {"allowed": [
	{"host": "api.github.com", "ports": [443]},
	{"host": "*.amazonaws.com", "ports": [443]},
	{"cidr": "10.20.0.0/16", "ports": [5432, 6379]},
]}}

codes(destinations) := cs if {
	cs := {v.code | some v in egress.violations} with input as {"step": {"name": "s", "image": "x:1", "egress": destinations}}
		with data.kubiya.settings as settings
}

test_no_egress if codes([]) == set()

test_allowed_host if codes([{"host": "api.github.com", "ports": [443]}]) == set()

test_host_case_insensitive if codes([{"host": "API.GitHub.com", "ports": [443]}]) == set()

test_glob_in_data if {
	codes([{"host": "s3.amazonaws.com", "ports": [443]}]) == set()

	# "*" does not cross dots: a deeper subdomain is another host.
	codes([{"host": "a.s3.amazonaws.com", "ports": [443]}]) == {"EGRESS_NOT_ALLOWED"}
	codes([{"host": "amazonaws.com.evil.io", "ports": [443]}]) == {"EGRESS_NOT_ALLOWED"}
}

test_port_not_allowed if codes([{"host": "api.github.com", "ports": [22]}]) == {"EGRESS_NOT_ALLOWED"}

test_unknown_host if codes([{"host": "pastebin.com", "ports": [443]}]) == {"EGRESS_NOT_ALLOWED"}

test_cidr_inside_allowed if codes([{"cidr": "10.20.5.0/24", "ports": [5432]}]) == set()

test_cidr_wider_than_allowed if codes([{"cidr": "10.0.0.0/8", "ports": [5432]}]) == {"EGRESS_NOT_ALLOWED"}

test_anywhere if {
	codes([{"cidr": "0.0.0.0/0", "ports": [443]}]) == {"EGRESS_ANY_DESTINATION"}
	codes([{"cidr": "::/0", "ports": [443]}]) == {"EGRESS_ANY_DESTINATION"}
}

test_anywhere_allowed_by_data if {
	cs := {v.code | some v in egress.violations} with input as {"step": {"egress": [{"cidr": "0.0.0.0/0", "ports": [443]}]}}
		with data.kubiya.settings as {"egress": {"allowAnyDestination": true}}
	cs == set()
}

test_wildcard_requested if codes([{"host": "*.github.com", "ports": [443]}]) == {"EGRESS_WILDCARD_HOST", "EGRESS_NOT_ALLOWED"}

# allowWildcardHosts lets a step ask for a wildcard; an entry of data must still cover it (before,
# any wildcard, even "*", was allowed as soon as the flag was on).
test_wildcard_allowed_by_data_still_needs_a_match if {
	every host in ["*.github.com", "*.com", "*.amazonaws.com"] {
		cs := {v.code | some v in egress.violations} with input as {"step": {"egress": [{"host": host, "ports": [443]}]}}
			with data.kubiya.settings as {"egress": {"allowWildcardHosts": true}}
		cs == {"EGRESS_NOT_ALLOWED"}
	}
	every host in ["*", "**.amazonaws.com", "a*.amazonaws.com", "*.s3.amazonaws.com"] {
		cs := {v.code | some v in egress.violations} with input as {"step": {"egress": [{"host": host, "ports": [443]}]}}
			with data.kubiya.settings as {"egress": {"allowWildcardHosts": true, "allowed": [{"host": "*.amazonaws.com", "ports": [443]}]}}
		cs == {"EGRESS_NOT_ALLOWED"}
	}
	ok := {v.code | some v in egress.violations} with input as {"step": {"egress": [{"host": "*.amazonaws.com", "ports": [443]}]}}
		with data.kubiya.settings as {"egress": {"allowWildcardHosts": true, "allowed": [{"host": "*.amazonaws.com", "ports": [443]}]}}
	ok == set()
}

# A step's own destinations are held to the data grammar: a CIDR with host bits set or a prefix
# spelled otherwise, or a host that is not a DNS name, is not allowed even inside an allowed range.
test_step_destinations_in_the_grammar if {
	every d in [
		{"cidr": "10.20.5.7/24", "ports": [5432]}, {"cidr": "10.20.5.0/024", "ports": [5432]}, {"cidr": "0.0.0.0/00", "ports": [5432]},
		{"cidr": "0::/0", "ports": [5432]}, {"host": "api.github.com.", "ports": [443]}, {"host": "a_b.amazonaws.com", "ports": [443]},
	] {
		codes([d]) == {"EGRESS_NOT_ALLOWED"}
	}
}

test_destinations_carry_pinned_cidrs if {
	ds := egress.destinations with input as {"step": {"egress": [{"host": "db.internal", "ports": [5432]}, {"cidr": "10.20.5.0/24", "ports": [5432]}, {"host": "api.github.com", "ports": [443]}]}}
		with data.kubiya.settings as {"egress": {"allowed": [{"host": "db.internal", "ports": [5432], "cidrs": ["10.1.2.3/32"]}, {"host": "api.github.com", "ports": [443]}]}}
	ds == [
		{"host": "db.internal", "ports": [5432], "cidrs": ["10.1.2.3/32"]},
		{"cidr": "10.20.5.0/24", "ports": [5432]},
		{"host": "api.github.com", "ports": [443], "cidrs": []},
	]
}

test_no_egress_no_destinations if egress.destinations == [] with input as {"step": {}}

# Flags that relax a rule count only when exactly true: "false", "true", 1, null never open anything.
test_relaxing_flags_are_strict if {
	every flag in ["false", "true", "0", "1", "", 1, 0, null, [true], {"x": true}] {
		anywhere := {v.code | some v in egress.violations} with input as {"step": {"egress": [{"cidr": "0.0.0.0/0", "ports": [443]}]}}
			with data.kubiya.settings as {"egress": {"allowAnyDestination": flag}}
		anywhere == {"EGRESS_ANY_DESTINATION"}
		wild := {v.code | some v in egress.violations} with input as {"step": {"egress": [{"host": "*.github.com", "ports": [443]}]}}
			with data.kubiya.settings as {"egress": {"allowWildcardHosts": flag, "allowed": [{"host": "*.github.com", "ports": [443]}]}}
		wild == {"EGRESS_WILDCARD_HOST"}
	}
}

test_malformed_allowed_entries_allow_nothing if {
	every allowed in ["api.github.com", [{"host": 1, "ports": [443]}], [{"host": "api.github.com", "ports": ["443"]}], [{"host": "api.github.com", "ports": 443}]] {
		cs := {v.code | some v in egress.violations} with input as {"step": {"egress": [{"host": "api.github.com", "ports": [443]}]}}
			with data.kubiya.settings as {"egress": {"allowed": allowed}}
		"EGRESS_NOT_ALLOWED" in cs
	}
}

# Data that never went through the settings schema: a malformed host or CIDR (allowed or pinned)
# allows nothing and denies every step, and never reaches the decision's egress list.
test_malformed_hosts_and_cidrs_in_data_deny if {
	every entry in [
		{"cidr": "0.0.0.0/99", "ports": [443]}, {"cidr": "0.0.0.0/0", "ports": [443]}, {"cidr": "10.0.0.1/8", "ports": [443]},
		{"cidr": "::/0", "ports": [443]}, {"cidr": 10, "ports": [443]}, {"host": "...", "ports": [443]}, {"host": "*.*.com", "ports": [443]},
		{"host": "api.github.com", "ports": [443], "cidrs": ["0.0.0.0/0"]}, {"host": "api.github.com", "ports": [443], "cidrs": ["300.0.0.0/8"]},
		{"host": "api.github.com", "ports": [443], "cidrs": "10.0.0.0/8"}, {"host": "api.github.com", "cidr": "10.0.0.0/8", "ports": [443]},
		{"cidr": "10.0.0.0/8", "cidrs": [], "ports": [443]},
	] {
		d := {"egress": {"allowed": [entry, {"host": "api.github.com", "ports": [443]}]}}
		cs := {v.code | some v in egress.violations} with input as {"step": {"egress": []}}
			with data.kubiya.settings as d
		cs == {"POLICY_SETTINGS_INVALID"}
		ds := egress.destinations with input as {"step": {"egress": [{"host": "api.github.com", "ports": [443]}]}}
			with data.kubiya.settings as d
		ds == [{"host": "api.github.com", "ports": [443], "cidrs": []}]
	}
}

test_valid_entries_in_data if {
	d := {"egress": {"allowed": [{"host": "db.internal", "ports": [5432], "cidrs": ["10.1.2.0/24", "fd00::/8"]}, {"cidr": "2001:db8::/32", "ports": [443]}]}}
	cs := {v.code | some v in egress.violations} with input as {"step": {"egress": [{"host": "db.internal", "ports": [5432]}, {"cidr": "2001:db8:1::/48", "ports": [443]}]}}
		with data.kubiya.settings as d
	cs == set()
}
