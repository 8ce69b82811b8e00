package kubiya.main

# METADATA
# title: Derived settings
# scope: rule
# description: |
#   The values the packages compute from data.kubiya.settings alone (no input), gathered into one
#   document. A second entrypoint (kubiya/main/derived): the runner evaluates it once each time it
#   loads data (src/adapters/opa-wasm.ts) and puts the result at data.kubiya.derived, which the
#   packages read instead of computing the same values again on every evaluation (issue 20 §2).
#   Where data.kubiya.derived is absent (opa eval, opa test, the OPA sidecar), each package computes
#   its value as before: the decision is the same either way. data.kubiya.derived is the runner's:
#   whatever a bundle's data.json or a settings file puts there is replaced when it is loaded.
derived := {
	"images": {
		"allowed": data.kubiya.rules.images.allowed,
		"denied": data.kubiya.rules.images.denied,
	},
	"egress": {
		"allowed": data.kubiya.rules.egress.allowed,
		"invalid": data.kubiya.rules.egress.invalid,
	},
	"resources": {"caps": data.kubiya.rules.resources.exact_caps},
	"volumes": {"caps": data.kubiya.rules.volumes.exact_caps},
	"secrets": {
		"anchored": data.kubiya.rules.secrets.anchored,
		"name_patterns": data.kubiya.rules.secrets.name_patterns,
		"value_patterns": data.kubiya.rules.secrets.value_patterns,
		"ill_typed": data.kubiya.rules.secrets.ill_typed,
	},
}
