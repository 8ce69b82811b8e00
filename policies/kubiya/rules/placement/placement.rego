# METADATA
# title: Placement
# description: |
#   Where a step may be scheduled: each nodeSelector key and value, and each toleration (key,
#   operator, value, effect) must be allowed by data.kubiya.settings.placement (default: the
#   NVIDIA GPU taint and the architecture label). A toleration with operator Exists tolerates any
#   value of its taint key, so an entry allows it only when it lists "Exists" in operators.
#   Settings: data.kubiya.settings.placement.
package kubiya.rules.placement

import data.kubiya.lib

settings := lib.section("placement")

selector_entries := [e | some e in lib.list(settings, "nodeSelectors"); is_object(e)]

toleration_entries := [e | some e in lib.list(settings, "tolerations"); is_object(e)]

selector_allowed(key, value) if {
	some e in selector_entries
	e.key == key
	value in lib.list(e, "values")
}

operator(t) := object.get(t, "operator", "Equal")

operators(e) := lib.list(e, "operators") if lib.has_key(e, "operators")

operators(e) := ["Equal"] if not lib.has_key(e, "operators")

value_allowed(_, t) if operator(t) == "Exists"

value_allowed(e, t) if {
	operator(t) == "Equal"
	not lib.has_key(e, "values")
}

value_allowed(e, t) if {
	operator(t) == "Equal"
	object.get(t, "value", "") in lib.list(e, "values")
}

toleration_allowed(t) if {
	some e in toleration_entries
	e.key == t.key
	operator(t) in operators(e)
	t.effect in lib.list(e, "effects")
	value_allowed(e, t)
}

violations contains v if {
	some key, value in input.step.nodeSelector
	not selector_allowed(key, value)
	v := lib.violation("placement", "NODE_SELECTOR_NOT_ALLOWED", sprintf("step.nodeSelector.%s", [key]), sprintf("nodeSelector %s=%v is not in placement.nodeSelectors", [key, value]))
}

violations contains v if {
	some i, t in input.step.tolerations
	not toleration_allowed(t)
	msg := sprintf("toleration %v %s %v:%v is not in placement.tolerations", [object.get(t, "key", null), operator(t), object.get(t, "value", ""), object.get(t, "effect", null)])
	v := lib.violation("placement", "TOLERATION_NOT_ALLOWED", sprintf("step.tolerations[%d]", [i]), msg)
}
