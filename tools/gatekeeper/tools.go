//go:build tools

// Package tools pins OPA Gatekeeper (the Rego admission webhook) for the peer rows of the full bench.
package tools

import _ "github.com/open-policy-agent/gatekeeper/v3"
