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

allowed := lib.list(settings, "allowed")

any_destination := {"0.0.0.0/0", "::/0"}

host_allowed(host, ports) if {
	some a in allowed
	is_string(a.host)
	glob.match(lower(a.host), ["."], lower(host))
	ports_covered(ports, a.ports)
}

cidr_allowed(cidr, ports) if {
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
	not contains(d.host, "*")
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
	glob.match(lower(a.host), ["."], lower(host))
	some c in lib.list(a, "cidrs")
]
