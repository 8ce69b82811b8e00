package kubiya.rules.secrets_test

import data.kubiya.rules.secrets

defaults := data.kubiya.settings.secrets.credentials

# Every default pattern is keyed (else it is merely run every time: slower, never weaker).
test_every_default_pattern_has_keywords if {
	every kind in ["envNames", "values"] {
		every p in defaults[kind] {
			count(secrets.keywords[p.pattern]) > 0
		}
	}
}

# A keyed pattern is never compiled when its keywords are absent: it must be valid RE2.
test_every_keyed_pattern_is_valid if {
	every pattern, _ in secrets.keywords {
		regex.is_valid(pattern)
	}
}

test_fold_follows_re2_case_folding if {
	secrets.fold("PA\u017f\u017fWORD") == "password"
	secrets.fold("API_\u212aEY") == "api_key"
}

# Sample matches per default pattern id (also the folded letters RE2's (?i) accepts): each
# matches its pattern and holds one of its keywords.
samples := {
	"password": ["DB_PASSWORD", "pwd", "MY_PASS_2", "pa\u017f\u017fphrase_x"],
	"secret": ["CLIENT_SECRET", "secret2"],
	"token": ["GITHUB_TOKEN", "BEARER_", "PAT", "x_pat_y"],
	"api-key": ["API_KEY", "apikey3", "API_\u212aEY"],
	"private-key": ["PRIVATE_KEY", "privatekey_"],
	"access-key": ["AWS_ACCESS_KEY_ID", "accesskey"],
	"signing-key": ["JWT_KEY", "hmackey_1"],
	"credentials": ["GOOGLE_CREDENTIALS", "credential_"],
	"cookie": ["SESSION_COOKIE", "cookie"],
	"url-userinfo-password": ["https://u:p@h", "redis://:pw@h"],
	"authorization-header": ["Authorization: Bearer x", "AUTHORIZATION=basic y"],
	"bearer-token": ["bearer abcdefghijklmnop123", "BeArEr AAAAAAAAAAAAAAAA=="],
	"pem-private-key": ["-----BEGIN RSA PRIVATE KEY-----", "-----BEGIN PRIVATE KEY-----"],
	"aws-access-key-id": ["AKIAABCDEFGHIJKLMNOP", "x=ASIAABCDEFGHIJKLMNOP;"],
	"github-token": ["ghp_abcdefghijklmnopqrstuvwxyz0123456789", "github_pat_abcdefghijklmnopqrstuv"],
	"slack-token": ["xoxb-1234567890"],
	"jwt": ["eyJhbGciO.eyJzdWIiO.sig"],
	"google-api-key": ["AIzaabcdefghijklmnopqrstuvwxyz012345678"],
	"stripe-secret-key": ["sk_live_abcdefghijklmnop", "rk_live_0123456789abcdef"],
	"secret-assignment": ["PASSWORD=x", "token: y", "api-key=z", "\"apiKey\": \"v\"", "-pwd=q", "\u017fecret=s"],
	"secret-flag-value": ["--password hunter2", "--db-pass x", "-token t", "--api-key k", "--x.pwd y"],
	"mysql-password-option": ["mysql -u root -phunter2", "mariadb-dump -p'x'"],
	"sshpass-password": ["sshpass -p hunter2"],
	"curl-user-password": ["curl -u admin:hunter2", "curl -s --user=a:b"],
	"cookie-header": ["Cookie: sid=abc", "set-cookie:x=y"],
	"slack-webhook": ["https://hooks.slack.com/services/T000/B000/xyz"],
	"url-key-userinfo": ["https://0123456789abcdef0123456789abcdef@sentry.io"],
	"gitlab-token": ["glpat-abcdefghijklmnopqrst"],
}

test_every_default_pattern_has_samples if {
	every kind in ["envNames", "values"] {
		every p in defaults[kind] {
			count(samples[p.id]) > 0
		}
	}
}

test_samples_match_and_hold_a_keyword if {
	every kind in ["envNames", "values"] {
		every p in defaults[kind] {
			every s in samples[p.id] {
				regex.match(p.pattern, s)
				some k in secrets.keywords[p.pattern]
				contains(secrets.fold(s), k)
			}
		}
	}
}

# The prefilter through the rule, with the default list: a folded letter does not hide a name or
# a value, and a literal without any keyword is not reported.
default_vs(step) := out if {
	out := {[v.code, v.path] | some v in secrets.violations} with input as {"step": step}
}

test_prefilter_folded_name if default_vs({"name": "s", "env": {"API_\u212aEY": "v"}}) == {["SECRET_LITERAL", "step.env.API_\u212aEY"]}

test_prefilter_folded_value if default_vs({"name": "s", "args": ["pa\u017f\u017fword=hunter2"]}) == {["SECRET_LITERAL", "step.args[0]"]}

test_prefilter_no_keyword if default_vs({"name": "s", "command": ["aws", "s3", "sync"], "env": {"MODE": "up"}}) == set()

# An edited default (one character) has no keywords: it is run, and an invalid one still denies.
test_edited_pattern_is_always_run if {
	cs := {v.code | some v in secrets.violations} with input as {"step": {"name": "s", "args": ["ok"]}}
		with data.kubiya.settings as {"secrets": {"credentials": {"values": [{"id": "x", "pattern": "(?i:bearer)[ \\t]+[A-Za-z0-9._~+/-]{16,}=*("}]}}}
	cs == {"POLICY_SETTINGS_INVALID"}
}
