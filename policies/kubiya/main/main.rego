# METADATA
# title: Decision
# description: |
#   The one entrypoint (kubiya/main/decision). It gathers the violations of every package under
#   data.kubiya.rules (images, privilege, resources, egress, secrets, volumes, and any package you
#   add there) into one decision document: allow is true when no violation has action "deny";
#   "warn" and "audit" violations are reported and recorded but do not block. "egress" lists the
#   destinations the step may reach; the runner renders them into the step's NetworkPolicy.
# entrypoint: true
package kubiya.main

import data.kubiya.lib

# Each package's violations document alone (issue 20 §2): iterating data.kubiya.rules itself
# (`some rules in data.kubiya.rules`) made the compiled WASM evaluate EVERY rule of every package
# on each evaluation (the secrets prefilter's 28-entry keywords object, the anchor test and the
# image entries among them, though derived once per loaded data), ~20 % of an evaluation. The same
# packages are gathered, a package added under data.kubiya.rules included
# (test/policies/rego-rewrites-h-floor-5.test.ts compares the decisions with the form it replaced).
violations contains v if {
	some name
	found := data.kubiya.rules[name].violations
	some v in found
}

# A bundle without settings must not decide: deny, whatever else the packages say.
violations contains lib.violation("main", "POLICY_SETTINGS_MISSING", "", "the policy bundle has no data.kubiya.settings") if not lib.has_settings

# A section of the settings that is not an object (an array, a string, null) is a typing error the
# settings schema refuses at load; should such data reach the policy anyway, it denies.
violations contains v if {
	some name, section in lib.settings
	not is_object(section)
	v := lib.violation("main", "POLICY_SETTINGS_INVALID", "", sprintf("data.kubiya.settings.%s is not an object", [name]))
}

# Computed once: the WASM planner does not share a set between two comprehensions.
listed := [v | some v in violations]

decision := {
	"allow": count([v | some v in listed; v.action == "deny"]) == 0,
	"violations": listed,
	"egress": egress,
}

# The egress destinations the step may reach (the egress package resolves pinned CIDRs).
default egress := []

egress := data.kubiya.rules.egress.destinations
