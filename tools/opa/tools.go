//go:build tools

// Package tools pins opa (policy build and test).
package tools

import _ "github.com/open-policy-agent/opa"
