# Network names in policy data, checked by the same grammar as the settings schema
# (src/policy/settings.ts: cidrProblem, hostProblem), so that data which never went through the
# schema cannot put a malformed CIDR into a NetworkPolicy or a glob that is not a DNS name into an
# allow list. test/policies/classes.test.ts runs one table (test/support/settings-variants.ts)
# against both.
package kubiya.lib

# IPv4: four decimal octets without leading zeros, prefix 1..32 (/0 is egress.allowAnyDestination's).
ipv4_cidr_pattern := `^(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})/([1-9]|[12][0-9]|3[0-2])$`

# IPv6: hex groups and at most one "::" (no embedded IPv4, no zone, not IPv4-mapped), prefix 1..128.
ipv6_cidr_pattern := `^([0-9A-Fa-f:]{2,39})/([1-9]|[1-9][0-9]|1[01][0-9]|12[0-8])$`

# A DNS name: labels of letters, digits and inner hyphens (at most 63: checked in valid_host, not
# by a bounded repeat, which WASM would compile as 61 copies on every evaluation), joined by dots,
# with an optional leading "*." label; the last label is not all digits (an address belongs in a CIDR).
host_pattern := `^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$`

# valid_cidr(c): c is an IPv4 or IPv6 CIDR with a prefix above zero and its host bits zero
# ("10.0.0.0/8", not "10.0.0.1/8", "0.0.0.0/99", "010.0.0.0/8" or "::/0").
valid_cidr(c) if {
	is_string(c)
	m := regex.find_all_string_submatch_n(ipv4_cidr_pattern, c, 1)[0]
	octets := [to_number(m[i]) | some i in numbers.range(1, 4)]
	every o in octets {
		o <= 255
	}
	address := (((((octets[0] * 256) + octets[1]) * 256) + octets[2]) * 256) + octets[3]
	address % bits.lsh(1, 32 - to_number(m[5])) == 0
} else if {
	is_string(c)
	m := regex.find_all_string_submatch_n(ipv6_cidr_pattern, c, 1)[0]
	groups := ipv6_groups(m[1])
	count(groups) == 8
	not ipv4_mapped(groups)
	prefix := to_number(m[2])
	every i, g in groups {
		g % bits.lsh(1, 16 - max([0, min([16, prefix - (16 * i)])])) == 0
	}
}

# ipv4_mapped(groups): an IPv4-mapped IPv6 address (::ffff:0:0/96, RFC 4291 §2.5.5.2), IPv4 space
# written as IPv6, which Kubernetes' NetworkPolicy validation refuses (KEP-4858): write the IPv4 CIDR.
ipv4_mapped(groups) if {
	groups[5] == 65535
	every i in numbers.range(0, 4) {
		groups[i] == 0
	}
}

# ipv6_groups(a) is the eight 16-bit groups of an IPv6 address as numbers; undefined when a is not one.
ipv6_groups(a) := hex_groups(split(a, ":")) if not contains(a, "::")

ipv6_groups(a) := groups if {
	parts := split(a, "::")
	count(parts) == 2
	head := colon_groups(parts[0])
	tail := colon_groups(parts[1])
	count(head) + count(tail) <= 7
	zeros := [0 | some _ in numbers.range(1, (8 - count(head)) - count(tail))]
	groups := array.concat(array.concat(head, zeros), tail)
}

colon_groups("") := []

colon_groups(s) := hex_groups(split(s, ":")) if s != ""

hex_groups(parts) := [hex_value(p) | some p in parts] if {
	every p in parts {
		count(p) >= 1
		count(p) <= 4
		trim_left(p, "0123456789ABCDEFabcdef") == ""
	}
}

hex_value(p) := sum([v | some i in numbers.range(0, count(p) - 1); v := indexof("0123456789abcdef", lower(substring(p, i, 1))) * bits.lsh(1, 4 * ((count(p) - 1) - i))])

# valid_host(h): h is a DNS name of at most 253 characters, optionally "*." and a DNS name
# ("api.github.com", "*.amazonaws.com"; not "...", "*.*.com", "*", "a_b.com" or "10.0.0.1").
# host_pattern's grammar, checked with string tests (every evaluation checks the settings' hosts,
# and WASM would compile the pattern each time, issue #20); image_test.rego and
# test/policies/rego-rewrites.test.ts check it against host_pattern.
valid_host(h) if {
	is_string(h)
	count(h) <= 253
	labels := split(trim_prefix(h, "*."), ".")
	trim_left(labels[count(labels) - 1], "0123456789") != ""
	every label in labels {
		dns_label(label)
	}
}

# dns_label(l): 1 to 63 letters, digits and hyphens, neither first nor last a hyphen.
dns_label(l) if {
	l != ""
	count(l) <= 63
	trim_left(l, "etaoinsrlcdmupghbfykvwxzjq0123456789-ABCDEFGHIJKLMNOPQRSTUVWXYZ") == ""
	not startswith(l, "-")
	not endswith(l, "-")
}

# host_covers(pattern, host): what glob.match(pattern, ["."], host) answers for a pattern
# valid_host accepts (a name, or "*." and a name: "*" is the only glob character it can hold, and
# it stands for one label, possibly empty), with string tests: WASM compiles a glob to a regex
# on every evaluation. test/policies/rego-rewrites.test.ts compares the two on generated pairs.
host_covers(pattern, host) if {
	not startswith(pattern, "*.")
	pattern == host
} else if {
	startswith(pattern, "*.")
	suffix := substring(pattern, 1, -1)
	endswith(host, suffix)
	not contains(substring(host, 0, count(host) - count(suffix)), ".")
}
