//go:build tools

// Package tools pins helm for chart tests.
package tools

import _ "helm.sh/helm/v3/cmd/helm"
