# METADATA
# title: Pull secrets
# description: |
#   Which image pull secrets a step may name (step.imagePullSecrets): only those listed in
#   data.kubiya.settings.pullSecrets.allowed (default: none). An entry with "registries" ties its
#   secret to them: a step may name it only when one of its images (the step's, a sidecar's or an
#   init container's) is under one of those registries, namespaces or repositories, so a
#   registry credential goes only to steps that pull from that registry.
#   Settings: data.kubiya.settings.pullSecrets.
package kubiya.rules.pullsecrets

import data.kubiya.lib
import data.kubiya.rules.images

settings := lib.section("pullSecrets")

entries := lib.keyed(lib.list(settings, "allowed"), "name")

# A name listed twice is refused by the settings schema; from unchecked data it is denied here,
# naming the settings key (never an evaluation error: REDTEAM-3 finding 7).
violations contains v if {
	some name in lib.duplicated(lib.list(settings, "allowed"), "name")
	v := lib.violation("pullsecrets", "POLICY_SETTINGS_INVALID", "", sprintf("pullSecrets.allowed names \"%s\" more than once", [name]))
}

violations contains v if {
	some i, name in input.step.imagePullSecrets
	not entries[name]
	v := lib.violation("pullsecrets", "PULL_SECRET_NOT_ALLOWED", sprintf("step.imagePullSecrets[%d]", [i]), sprintf("pull secret \"%v\" is not in pullSecrets.allowed", [name]))
}

violations contains v if {
	some i, name in input.step.imagePullSecrets
	lib.has_key(entries[name], "registries")
	registries := [r | some x in entries[name].registries; r := lib.parse_image_entry(x)]
	not used_for(registries)
	msg := sprintf("pull secret \"%s\" is only for %v, and no image of the step is from there", [name, entries[name].registries])
	v := lib.violation("pullsecrets", "PULL_SECRET_REGISTRY_MISMATCH", sprintf("step.imagePullSecrets[%d]", [i]), msg)
}

used_for(registries) if {
	some ref in images.refs
	some e in registries
	lib.image_entry_matches(e, ref.ref)
}
