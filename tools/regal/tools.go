//go:build tools

// Package tools pins regal (Rego linter).
package tools

import _ "github.com/styrainc/regal"
