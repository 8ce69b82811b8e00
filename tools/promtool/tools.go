//go:build tools

// Package tools pins promtool (the Prometheus rule and metrics checker) for the chart tests.
package tools

import _ "github.com/prometheus/prometheus/cmd/promtool"
