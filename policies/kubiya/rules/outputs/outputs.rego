# METADATA
# title: Outputs
# description: |
#   A step's outputs (issue 19 §4). A secret output's value passes through the pod's status in the
#   API server (its termination message) before the runner masks it everywhere it writes it, so
#   declaring one is a setting of its own. Values that reach a later step are substituted before
#   that step is evaluated: every other rule already decides on them.
#   Settings: data.kubiya.settings.outputs.allowSecretOutputs (exactly true allows; default false).
package kubiya.rules.outputs

import data.kubiya.lib

settings := lib.section("outputs")

violations contains v if {
	not lib.enabled(settings, "allowSecretOutputs")
	some i, o in object.get(input.step, "outputs", [])
	object.get(o, "secret", false) == true
	path := sprintf("step.outputs[%d].secret", [i])
	msg := sprintf("output \"%s\" is marked secret; secret outputs are not allowed (settings.outputs.allowSecretOutputs)", [o.name])
	v := lib.violation("outputs", "OUTPUT_SECRET_NOT_ALLOWED", path, msg)
}
