# METADATA
# title: Secrets
# description: |
#   Which Kubernetes Secrets a step may read (by reference: env secretRef and envFrom, in the main
#   container, sidecars and init containers). Settings: data.kubiya.settings.secrets.allowedSecrets.
package kubiya.rules.secrets

import data.kubiya.lib

allowed := {s | some s in object.get(object.get(lib.settings, "secrets", {}), "allowedSecrets", [])}

references contains {"secret": value.secretRef.secret, "path": sprintf("%s.env.%s.secretRef.secret", [c.path, name])} if {
	some c in lib.step_containers
	some name, value in c.container.env
	is_object(value)
}

references contains {"secret": e.secret, "path": sprintf("step.envFrom[%d].secret", [i])} if {
	some i, e in input.step.envFrom
}

violations contains v if {
	some r in references
	not r.secret in allowed
	v := lib.violation("secrets", "SECRET_NOT_ALLOWED", r.path, sprintf("secret \"%s\" is not in the allowed secrets", [r.secret]))
}
