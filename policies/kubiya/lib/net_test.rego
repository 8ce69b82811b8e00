package kubiya.lib_test

import data.kubiya.lib

test_valid_cidrs if {
	every c in [
		"10.0.0.0/8", "10.20.0.0/16", "10.1.2.3/32", "192.168.0.0/16", "255.255.255.255/32", "0.0.0.0/1", "128.0.0.0/1",
		"2001:db8::/32", "2001:DB8::/32", "fd00::/8", "::1/128", "1::/16", "1:2:3:4:5:6:7:8/128", "1:2:3:4:5:6:7::/112",
		"2001:db8:0:0:0:0:0:0/64", "0:0:0:0:0:0:0:1/128", "8000::/1", "ffff::/16", "::1:ffff:0:0/96",
	] {
		lib.valid_cidr(c)
	}
}

test_invalid_cidrs if {
	every c in [
		"0.0.0.0/0", "::/0", "0.0.0.0/99", "10.0.0.0/33", "256.0.0.0/8", "10.0.0.1/8", "010.0.0.0/8", "10.0.0.0/08",
		"10.0.0/8", "10.0.0.0.0/8", "10.0.0.0", "10.0.0.0/", " 10.0.0.0/8", "10.0.0.0/8 ", "1.2.3.4/-1",
		"2001:db8::/129", "2001:db8::1/64", "1::2::3/64", ":::/8", "1:2:3:4:5:6:7:8:9/128", "1:2:3:4:5:6:7/112",
		"12345::/16", "g::/16", "::ffff:1.2.3.4/128", "::ffff:0:0/96", "::ffff:a00:0/104", "fe80::1%eth0/128", ":1::/16", "1::/016", "", 1, null, ["10.0.0.0/8"],
	] {
		not lib.valid_cidr(c)
	}
}

test_valid_hosts if {
	every h in ["api.github.com", "*.amazonaws.com", "db", "db.internal", "A-1.example.COM", "*.com", "x.y1"] {
		lib.valid_host(h)
	}
}

test_invalid_hosts if {
	every h in [
		"...", "*.*.com", "*", "*.", "a..b", ".a", "a.", "-a.com", "a-.com", "a_b.com", "a.*.com", "**.com", "*a.com",
		"10.0.0.1", "a.123", "a b.com", "a/b", "[a].com", "{a,b}.com", "?.com", concat("", [concat("", [c | some _ in numbers.range(1, 64); c := "a"]), ".com"]),
		concat(".", [l | some _ in numbers.range(1, 64); l := "abcd"]), "", 1, null,
	] {
		not lib.valid_host(h)
	}
}

# valid_host's string tests (issue #20) accept exactly what host_pattern and the label bounds accept.
test_valid_host_is_host_pattern if {
	every h in [
		"api.github.com", "*.amazonaws.com", "db", "A-1.example.COM", "*.com", "x.y1", "...", "*.*.com", "*", "*.", "a..b",
		".a", "a.", "-a.com", "a-.com", "a_b.com", "a.*.com", "**.com", "*a.com", "10.0.0.1", "a.123", "*.123", "a b.com",
		"a/b", "a.com\n", "é.com", "a--b.com", "1a.com", "a.b-c", "*.-a", "", "*.a.b.c",
	] {
		valid_host(h) == host_pattern_accepts(h)
	}
}

default host_pattern_accepts(_) := false

host_pattern_accepts(h) if {
	count(h) <= 253
	regex.match(lib.host_pattern, h)
	labels := split(h, ".")
	trim_left(labels[count(labels) - 1], "0123456789") != ""
	every label in labels {
		count(label) <= 63
	}
}

# host_covers answers as glob.match(pattern, ["."], host) for every pattern valid_host accepts.
test_host_covers_is_glob_match if {
	every pattern in ["api.github.com", "*.amazonaws.com", "*.com", "db", "*.a.b"] {
		every host in [
			"api.github.com", "x.api.github.com", "s3.amazonaws.com", "a.s3.amazonaws.com", ".amazonaws.com",
			"amazonaws.com", "*.amazonaws.com", "**.amazonaws.com", "x.com", "com", ".com", "db", "db.", "x.db", "*.a.b",
			"q.a.b", "q.r.a.b", "", "é.a.b", "a b.com",
		] {
			covers(pattern, host) == glob_covers(pattern, host)
		}
	}
}

default glob_covers(_, _) := false

glob_covers(pattern, host) if glob.match(pattern, ["."], host)

default covers(_, _) := false

covers(pattern, host) if lib.host_covers(pattern, host)

default valid_host(_) := false

valid_host(h) if lib.valid_host(h)
