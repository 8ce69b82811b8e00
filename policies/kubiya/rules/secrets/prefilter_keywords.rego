# Secrets prefilter keywords. For speed only (see the prefilter in secrets.rego): the keywords of the DEFAULT credential
# patterns (policies/data.json), keyed by each pattern's exact text. Every string a pattern
# matches holds at least one of its keywords once folded (fold below); a pattern whose keywords
# are all absent is not run. Keyed by text, so a pattern an operator adds or edits has no
# keywords and is always run. Kept true by secrets_test.rego (every sample match holds a
# keyword; every default pattern has an entry) and test/policies/prefilter-keywords.test.ts
# (generated matches of every keyed pattern hold a keyword).
package kubiya.rules.secrets

# Lower case, after the two non-ASCII letters RE2's (?i) folds onto ASCII ones: U+017F (long s)
# matches s, U+212A (Kelvin sign) matches k.
fold(s) := lower(replace(replace(s, "\u017f", "s"), "\u212a", "k"))

keywords := {
	# password (envNames)
	"(?i:(passw(or)?d|passphrase)([0-9]*$|_)|(^|_)(pass|pwd)([0-9]*$|_))": ["pass", "pwd"],
	# secret (envNames)
	"(?i:secret([0-9]*$|_))": ["secret"],
	# token (envNames)
	"(?i:(token|bearer)([0-9]*$|_)|(^|_)pat([0-9]*$|_))": ["token", "bearer", "pat"],
	# api-key (envNames)
	"(?i:api_?key([0-9]*$|_))": ["apikey", "api_key"],
	# private-key (envNames)
	"(?i:private_?key([0-9]*$|_))": ["privatekey", "private_key"],
	# access-key (envNames)
	"(?i:access_?key([0-9]*$|_))": ["accesskey", "access_key"],
	# signing-key (envNames)
	"(?i:(encryption|signing|master|hmac|session|crypt|cipher|jwt|license)_?key([0-9]*$|_))": ["key"],
	# credentials (envNames)
	"(?i:credentials?([0-9]*$|_))": ["credential"],
	# cookie (envNames)
	"(?i:(^|_)(session_?)?cookie[0-9]*$)": ["cookie"],
	# url-userinfo-password (values)
	"[A-Za-z][A-Za-z0-9+.-]{0,31}://[^/?#@ \\t\\r\\n:]*:[^/?@ \\t\\r\\n$][^/?@ \\t\\r\\n]*@": ["://"],
	# authorization-header (values)
	"(?i:authorization[\"']?[ \\t]*[:=][ \\t]*[\"']?(bearer|basic|token|digest|negotiate)[ \\t]+[^ \\t\\r\\n$\"'])": ["authorization"],
	# bearer-token (values)
	"(?i:bearer)[ \\t]+[A-Za-z0-9._~+/-]{16,}=*": ["bearer"],
	# pem-private-key (values)
	"-----BEGIN ([A-Z0-9]{1,32} ){0,4}PRIVATE KEY-----": ["private key-----"],
	# aws-access-key-id (values)
	"(^|[^A-Za-z0-9])(AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}([^A-Za-z0-9]|$)": ["akia", "asia", "abia", "acca"],
	# github-token (values)
	"(^|[^A-Za-z0-9_])(gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})": ["ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"],
	# slack-token (values)
	"(^|[^A-Za-z0-9])xox[abposr]-[A-Za-z0-9-]{10,}": ["xox"],
	# jwt (values)
	"(^|[^A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{5,}\\.eyJ[A-Za-z0-9_-]{5,}\\.[A-Za-z0-9_-]*": ["eyj"],
	# google-api-key (values)
	"(^|[^A-Za-z0-9_-])AIza[0-9A-Za-z_-]{35}([^A-Za-z0-9_-]|$)": ["aiza"],
	# stripe-secret-key (values)
	"(^|[^A-Za-z0-9_])[sr]k_live_[0-9A-Za-z]{16,}": ["k_live_"],
	# secret-assignment (values)
	# regal ignore:line-length
	"(?i:(passw(or)?d|passphrase|secret|token|credentials?|(api|access|private|secret|signing|encryption)[_-]?key|(^|[^a-z0-9])(pass|pwd))[\"']?[ \\t]*[:=][ \\t]*[\"']?[^ \\t\\r\\n\"'$&;|,*<>{}()/-])": ["pass", "pwd", "secret", "token", "credential", "key"],
	# secret-flag-value (values)
	# regal ignore:line-length
	"(?i:(^|[ \\t])--?([A-Za-z0-9_.-]{0,128}(passw(or)?d|passphrase|secret|token|credentials?|(api|access|private|secret|signing|encryption)[_-]?key)|([A-Za-z0-9_.-]{0,128}[_.-])?(pass|pwd))[ \\t]+[^ \\t\\r\\n\"'$&;|<-])": ["pass", "pwd", "secret", "token", "credential", "key"],
	# mysql-password-option (values)
	"(^|[^A-Za-z0-9_.-])(mysql(dump|admin|import|show|check)?|mariadb(-dump|-admin)?)([ \\t][^;&|\\r\\n]{0,512})?[ \\t]-p[\"']?[^ \\t\\r\\n;&|$\"']": ["mysql", "mariadb"],
	# sshpass-password (values)
	"(^|[^A-Za-z0-9_.-])sshpass[ \\t]{1,16}-p[ \\t]{0,16}[\"']?[^ \\t\\r\\n;&|$\"'-]": ["sshpass"],
	# curl-user-password (values)
	"(^|[^A-Za-z0-9_.-])curl([ \\t][^;&|\\r\\n]{0,512})?[ \\t](-u|--user)[ \\t=]{0,16}[\"']?[^ \\t\\r\\n\"':$]{1,256}:[^ \\t\\r\\n\"'$]": ["curl"],
	# cookie-header (values)
	"(?i:(^|[^A-Za-z0-9-])(set-)?cookie[\"']?[ \\t]{0,16}:[ \\t]{0,16}[\"']?[^ \\t\\r\\n\"'$;=]{1,256}=[^ \\t\\r\\n\"'$;])": ["cookie"],
	# slack-webhook (values)
	"hooks\\.slack\\.com/(services|workflows|triggers)/[A-Za-z0-9_-]{4,}/[A-Za-z0-9/_-]{4,}": ["hooks.slack.com/"],
	# url-key-userinfo (values)
	"://[0-9a-fA-F]{32}(:[0-9a-fA-F]{32})?@": ["://"],
	# gitlab-token (values)
	"(^|[^A-Za-z0-9_-])gl(pat|dt|rt|ptt|oas|cbt)-[A-Za-z0-9_-]{20,}": ["glpat-", "gldt-", "glrt-", "glptt-", "gloas-", "glcbt-"],
}
