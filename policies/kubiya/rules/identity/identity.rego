# METADATA
# title: Step identity
# description: |
#   Which ServiceAccount a step may run as (step.serviceAccount): only those listed in
#   data.kubiya.settings.serviceAccounts.allowed (default: none; a step without one runs as the
#   runner's configured account). A service account token reaches a pod only as a projected,
#   audience-bound, short-lived token of an account whose entry allows tokens for that audience,
#   no longer than its maxExpirationSeconds (default 3600); read from the pod as built, every
#   projected serviceAccountToken source is checked. The legacy automounted token is always
#   denied. Settings: data.kubiya.settings.serviceAccounts.
package kubiya.rules.identity

import data.kubiya.lib

settings := lib.section("serviceAccounts")

entries := lib.keyed(lib.list(settings, "allowed"), "name")

asked := input.step.serviceAccount if is_string(input.step.serviceAccount)

asked := input.step.serviceAccount.name if is_object(input.step.serviceAccount)

tokens contains {"path": concat("", [lib.indexed(concat("", [lib.indexed("pod.spec.volumes", i), ".projected.sources"]), j), ".serviceAccountToken"]), "token": s.serviceAccountToken} if {
	some i, vol in input.pod.spec.volumes
	some j, s in vol.projected.sources
	lib.has_key(s, "serviceAccountToken")
}

account := object.get(input.pod.spec, "serviceAccountName", "default")

default token_settings := {}

token_settings := t if {
	t := entries[account].token
	is_object(t)
}

# A name listed twice is refused by the settings schema; from unchecked data it is denied here,
# naming the settings key (never an evaluation error: REDTEAM-3 finding 7).
violations contains v if {
	some name in lib.duplicated(lib.list(settings, "allowed"), "name")
	v := lib.violation("identity", "POLICY_SETTINGS_INVALID", "", sprintf("serviceAccounts.allowed names \"%s\" more than once", [name]))
}

violations contains v if {
	not entries[asked]
	v := lib.violation("identity", "SERVICE_ACCOUNT_NOT_ALLOWED", "step.serviceAccount", sprintf("service account \"%v\" is not in serviceAccounts.allowed", [asked]))
}

# Present and anything but false: the builder always writes false and mutate forces it, so a
# record or hand-written input without the field (replayed past traffic) is judged on the rest.
violations contains v if {
	lib.has_key(input.pod.spec, "automountServiceAccountToken")
	input.pod.spec.automountServiceAccountToken != false
	v := lib.violation("identity", "SERVICE_ACCOUNT_TOKEN_AUTOMOUNT", "pod.spec.automountServiceAccountToken", "the legacy service account token must not be mounted (a projected, audience-bound token is the only form)")
}

violations contains v if {
	some t in tokens
	not object.get(t.token, "audience", "") in lib.list(token_settings, "audiences")
	msg := sprintf("a token of service account \"%s\" for audience %v is not allowed by serviceAccounts.allowed", [account, object.get(t.token, "audience", null)])
	v := lib.violation("identity", "SERVICE_ACCOUNT_TOKEN_NOT_ALLOWED", t.path, msg)
}

violations contains v if {
	some t in tokens
	cap := lib.number(token_settings, "maxExpirationSeconds", 3600)
	not object.get(t.token, "expirationSeconds", 3600) <= cap
	v := lib.violation("identity", "SERVICE_ACCOUNT_TOKEN_TOO_LONG", t.path, sprintf("the token lives %v seconds; the cap for \"%s\" is %v", [object.get(t.token, "expirationSeconds", null), account, cap]))
}
