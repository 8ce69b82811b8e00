//go:build tools

// Package tools pins kube-router, used on the optional real node as a NetworkPolicy enforcer for
// tests only (firewall mode; see docs/real-node.md for its advisories).
package tools

import _ "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router"
