package kubiya.rules.placement_test

import data.kubiya.rules.placement

settings := {"placement": {
	"nodeSelectors": [{"key": "pool", "values": ["gpu", "cpu"]}],
	"tolerations": [
		{"key": "nvidia.com/gpu", "operators": ["Exists"], "effects": ["NoSchedule"]},
		{"key": "dedicated", "values": ["ml"], "effects": ["NoSchedule", "NoExecute"]},
	],
}}

codes(step) := cs if {
	cs := {v.code | some v in placement.violations} with input as {"step": step}
		with data.kubiya.settings as settings
}

test_nothing_asked if codes({}) == set()

test_selector_allowed if codes({"nodeSelector": {"pool": "gpu"}}) == set()

test_selector_value_not_allowed if codes({"nodeSelector": {"pool": "prod"}}) == {"NODE_SELECTOR_NOT_ALLOWED"}

test_selector_key_not_allowed if codes({"nodeSelector": {"kubernetes.io/hostname": "node-1"}}) == {"NODE_SELECTOR_NOT_ALLOWED"}

test_gpu_toleration if codes({"tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]}) == set()

test_equal_toleration if codes({"tolerations": [{"key": "dedicated", "value": "ml", "effect": "NoExecute", "tolerationSeconds": 60}]}) == set()

test_wrong_effect if codes({"tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoExecute"}]}) == {"TOLERATION_NOT_ALLOWED"}

test_exists_needs_listing if codes({"tolerations": [{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}]}) == {"TOLERATION_NOT_ALLOWED"}

test_wrong_value if codes({"tolerations": [{"key": "dedicated", "value": "prod", "effect": "NoSchedule"}]}) == {"TOLERATION_NOT_ALLOWED"}

test_equal_not_in_operators if codes({"tolerations": [{"key": "nvidia.com/gpu", "value": "x", "effect": "NoSchedule"}]}) == {"TOLERATION_NOT_ALLOWED"}

test_unknown_key if codes({"tolerations": [{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"}]}) == {"TOLERATION_NOT_ALLOWED"}

test_empty_settings_allow_nothing if {
	cs := {v.code | some v in placement.violations} with input as {"step": {"nodeSelector": {"a": "b"}, "tolerations": [{"key": "a", "effect": "NoSchedule"}]}}
		with data.kubiya.settings as {}
	cs == {"NODE_SELECTOR_NOT_ALLOWED", "TOLERATION_NOT_ALLOWED"}
}
