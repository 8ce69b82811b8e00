# METADATA
# title: Decision
# description: |
#   The one entrypoint (kubiya/main/decision). It gathers the violations of every policy package
#   into one decision document: allow is true when no violation has action "deny"; "warn" and
#   "audit" violations are reported and recorded but do not block.
# entrypoint: true
package kubiya.main

import data.kubiya.egress
import data.kubiya.images
import data.kubiya.lib
import data.kubiya.privilege
import data.kubiya.resources
import data.kubiya.secrets
import data.kubiya.volumes

violations contains v if some v in images.violations

violations contains v if some v in privilege.violations

violations contains v if some v in resources.violations

violations contains v if some v in egress.violations

violations contains v if some v in secrets.violations

violations contains v if some v in volumes.violations

# A bundle without settings must not decide: deny, whatever else the packages say.
violations contains lib.violation("main", "POLICY_SETTINGS_MISSING", "", "the policy bundle has no data.kubiya.settings") if not lib.has_settings

decision := {
	"allow": count([v | some v in violations; v.action == "deny"]) == 0,
	"violations": [v | some v in violations],
}
