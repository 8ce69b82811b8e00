package kubiya.main_test

import data.kubiya.main

# The derived settings (main.derived) are the values the packages compute from the settings, and
# the packages read them from data.kubiya.derived when it is there (the runner puts them there on
# every load; whole decisions with and without it: test/policies/derived-settings.test.ts).
derived_settings := {
	"images": {"allowedRegistries": ["docker.io", "ghcr.io/x", "bad entry"], "deniedImages": ["ghcr.io/x/y", "ghcr.io/x:1"]},
	"egress": {"allowed": [{"host": "api.github.com", "ports": [443]}, {"host": "*.x.com", "ports": [443], "cidrs": ["10.0.0.0/8"]}, {"cidr": "0.0.0.0/0", "ports": [1]}]},
	"secrets": {"credentials": {
		"envNames": [{"id": "password", "pattern": "(?i:passw(or)?d)"}],
		"values": [{"id": "mine", "pattern": "\\Ahunter"}, {"id": "bearer-token", "pattern": "(?i:bearer)[ \\t]+[A-Za-z0-9._~+/-]{16,}=*"}],
	}},
}

test_derived_settings_are_the_computed_values if {
	d := main.derived with data.kubiya.settings as derived_settings
	d.images.allowed == [{"registry": "docker.io", "path": ""}, {"registry": "ghcr.io", "path": "x"}]
	d.images.denied == [{"registry": "ghcr.io", "path": "x/y"}]
	d.egress.allowed == [{"host": "api.github.com", "ports": [443]}, {"host": "*.x.com", "ports": [443], "cidrs": ["10.0.0.0/8"]}]
	d.egress.invalid == [2]
	d.secrets.anchored == true
	d.secrets.name_patterns == [{"id": "password", "pattern": "(?i:passw(or)?d)", "keywords": null}]
	d.secrets.value_patterns == [
		{"id": "mine", "pattern": "\\Ahunter", "keywords": null},
		{"id": "bearer-token", "pattern": "(?i:bearer)[ \\t]+[A-Za-z0-9._~+/-]{16,}=*", "keywords": ["bearer"]},
	]
	d.secrets.ill_typed == []
}

test_derived_ill_typed_patterns if {
	bad := {"secrets": {"credentials": {"envNames": [{"id": 1, "pattern": "x"}, "y"], "values": [{"id": "v", "pattern": "z"}, null]}}}
	d := main.derived with data.kubiya.settings as bad
	d.secrets.ill_typed == [["envNames", 0], ["envNames", 1], ["values", 1]]
	d.secrets.value_patterns == [{"id": "v", "pattern": "z", "keywords": null}]
}

# Caps are derived only when JSON carries them exactly: integers of magnitude at most 2^53.
test_derived_caps_are_the_exact_ones if {
	r := {"maxCpu": "500m", "maxMemory": "8Gi", "maxEphemeralStorage": "9Ei"}
	d := main.derived with data.kubiya.settings as {"resources": r}
	d.resources.caps == {"maxMemory": 8589934592}
	e := main.derived with data.kubiya.settings as {"resources": {"maxCpu": 4, "maxMemory": "8192", "maxEphemeralStorage": "lots"}}
	e.resources.caps == {"maxCpu": 4, "maxMemory": 8192}
	f := main.derived with data.kubiya.settings as {"resources": {"maxCpu": 9007199254740993, "maxMemory": 4.5}}
	f.resources.caps == {}
	g := main.derived with data.kubiya.settings as {"volumes": {"maxSize": "9Ei"}}
	g.volumes.caps == {}
	h := main.derived with data.kubiya.settings as {"volumes": {"maxSize": "1Gi"}}
	h.volumes.caps == {"maxSize": 1073741824}
}

test_derived_settings_of_the_default_data if {
	d := main.derived
	d.resources.caps == {"maxCpu": 4, "maxMemory": 8589934592, "maxEphemeralStorage": 21474836480}
	d.volumes.caps == {"maxSize": 53687091200}
	d.secrets.anchored == false
	count(d.images.allowed) == count(data.kubiya.settings.images.allowedRegistries)
	count(d.egress.allowed) == count(data.kubiya.settings.egress.allowed)
}

# The packages read the document where it is: one that says otherwise than the settings decides
# (which is why the runner replaces whatever data carries there).
test_packages_read_data_kubiya_derived if {
	step := {"name": "a", "image": "evil.example/x:1", "egress": [{"host": "evil.example", "ports": [443]}]}
	forged := {
		"images": {"allowed": [{"registry": "evil.example", "path": ""}], "denied": []},
		"egress": {"allowed": [{"host": "evil.example", "ports": [443]}]},
	}
	images := data.kubiya.rules.images.violations with input as {"step": step}
		with data.kubiya.derived as forged
	{v.code | some v in images} == set()
	egress := data.kubiya.rules.egress.violations with input as {"step": step}
		with data.kubiya.derived as forged
	{v.code | some v in egress} == set()
}
