# lib.quantity as it was before issue #20's suffix lookup (policies/kubiya/lib/lib.rego at
# cad3fb6), package `original`, for test/policies/rego-rewrites.test.ts.
package original

binary_suffixes := {"Ki": 1024, "Mi": 1048576, "Gi": 1073741824, "Ti": 1099511627776, "Pi": 1125899906842624, "Ei": 1152921504606846976}

decimal_suffixes := {"k": 1000, "M": 1000000, "G": 1000000000, "T": 1000000000000, "P": 1000000000000000, "E": 1000000000000000000}

quantity(q) := q if is_number(q)

quantity(q) := to_number(q) if {
	is_string(q)
	decimal(q)
}

quantity(q) := n if {
	is_string(q)
	some suffix, factor in binary_suffixes
	endswith(q, suffix)
	n := number_part(trim_suffix(q, suffix)) * factor
}

quantity(q) := number_part(trim_suffix(q, "m")) / 1000 if {
	is_string(q)
	endswith(q, "m")
}

quantity(q) := n if {
	is_string(q)
	some suffix, factor in decimal_suffixes
	endswith(q, suffix)
	n := number_part(trim_suffix(q, suffix)) * factor
}

number_part(s) := to_number(s) if decimal(s)

decimal(s) if {
	parts := split(s, ".")
	count(parts) <= 2
	every p in parts {
		p != ""
		trim_left(p, "0123456789") == ""
	}
}
