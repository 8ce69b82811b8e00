# METADATA
# title: Egress
# description: |
#   Where a step may connect. Every destination it declares (a host or a CIDR, with ports) must be
#   allowed by data; "0.0.0.0/0", "::/0" and wildcard hosts are denied unless data allows them.
#   Allowed hosts in data may be glob patterns ("*.amazonaws.com"). The runner turns the allowed
#   destinations into the step's NetworkPolicy. Settings: data.kubiya.settings.egress.
package kubiya.rules.egress

import data.kubiya.lib

settings := lib.section("egress")

# Only entries the grammar accepts (lib.valid_host, lib.valid_cidr) allow anything; any other entry
# denies every step with POLICY_SETTINGS_INVALID (below), so unchecked data can never put a
# malformed or "/0" CIDR into a NetworkPolicy, nor a glob that is not a DNS name into a match.
# Derived once per loaded data where the runner did so (data.kubiya.derived, main/derived.rego).
allowed := d if d := data.kubiya.derived.egress.allowed

else := [a | some a in lib.list(settings, "allowed"); valid_entry(a)]

valid_entry(a) if {
	lib.valid_host(a.host)
	not lib.has_key(a, "cidr")
	is_array(object.get(a, "cidrs", []))
	every c in object.get(a, "cidrs", []) {
		lib.valid_cidr(c)
	}
} else if {
	lib.valid_cidr(a.cidr)
	not lib.has_key(a, "host")
	not lib.has_key(a, "cidrs")
}

any_destination := {"0.0.0.0/0", "::/0"}

# A step's own host and CIDR must be in the same grammar as data's (a wildcard host the step asks
# for is matched like any other: "*.github.com" needs an entry that covers it, such as
# "*.github.com"; a host such as "**.x.com" or "a_b.x.com" is not a name and matches nothing).
host_allowed(host, ports) if {
	lib.valid_host(host)
	some a in allowed
	is_string(a.host)
	lib.host_covers(lower(a.host), lower(host))
	ports_covered(ports, a.ports)
}

cidr_allowed(cidr, ports) if {
	lib.valid_cidr(cidr)
	some a in allowed
	net.cidr_contains(a.cidr, cidr)
	ports_covered(ports, a.ports)
}

ports_covered(asked, permitted) if {
	every p in asked {
		p in permitted
	}
}

violations contains v if {
	not lib.enabled(settings, "allowAnyDestination")
	some i, d in input.step.egress
	d.cidr in any_destination
	v := lib.violation("egress", "EGRESS_ANY_DESTINATION", sprintf("step.egress[%d].cidr", [i]), sprintf("egress to %s (anywhere) is not allowed", [d.cidr]))
}

violations contains v if {
	not lib.enabled(settings, "allowWildcardHosts")
	some i, d in input.step.egress
	contains(d.host, "*")
	v := lib.violation("egress", "EGRESS_WILDCARD_HOST", sprintf("step.egress[%d].host", [i]), sprintf("wildcard destination %s is not allowed; name the hosts", [d.host]))
}

violations contains v if {
	some i, d in input.step.egress
	is_string(d.host)
	not host_allowed(d.host, d.ports)
	v := lib.violation("egress", "EGRESS_NOT_ALLOWED", sprintf("step.egress[%d]", [i]), sprintf("egress to %s on ports %v is not allowed", [d.host, d.ports]))
}

violations contains v if {
	some i, d in input.step.egress
	is_string(d.cidr)
	not d.cidr in any_destination
	not cidr_allowed(d.cidr, d.ports)
	v := lib.violation("egress", "EGRESS_NOT_ALLOWED", sprintf("step.egress[%d]", [i]), sprintf("egress to %s on ports %v is not allowed", [d.cidr, d.ports]))
}

# An entry of egress.allowed the grammar refuses denies every step (see allowed above).
violations contains v if {
	some i, a in lib.list(settings, "allowed")
	not valid_entry(a)
	msg := sprintf("egress.allowed[%d] is not {host, ports, cidrs?} with a DNS name and CIDRs, or {cidr, ports} with a CIDR (prefix above 0, host bits zero)", [i])
	v := lib.violation("egress", "POLICY_SETTINGS_INVALID", "", msg)
}

# The destinations the step may reach, for its NetworkPolicy (main's decision carries them): each
# declared CIDR, and each declared host with the CIDRs data pins for it (egress.allowed[].cidrs);
# a host with no pinned CIDRs is reachable only where the runner renders Cilium toFQDNs rules.
destinations := [d |
	some e in input.step.egress
	d := destination(e)
]

destination(e) := {"cidr": e.cidr, "ports": e.ports} if is_string(e.cidr)

destination(e) := {"host": e.host, "ports": e.ports, "cidrs": pinned(e.host)} if is_string(e.host)

pinned(host) := [c |
	some a in allowed
	is_string(a.host)
	lib.host_covers(lower(a.host), lower(host))
	some c in lib.list(a, "cidrs")
]
