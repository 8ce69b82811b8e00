# METADATA
# title: Decision
# description: |
#   The one entrypoint (kubiya/main/decision). It gathers the violations of every policy package
#   into one decision document: allow is true when no violation has action "deny"; "warn" and
#   "audit" violations are reported and recorded but do not block.
# entrypoint: true
package kubiya.main

import data.kubiya.images

violations contains v if some v in images.violations

decision := {
	"allow": count([v | some v in violations; v.action == "deny"]) == 0,
	"violations": [v | some v in violations],
}
