//go:build tools

// Package tools pins CoreDNS, the cluster DNS of the optional real node (`tools/build.sh --real-node`).
package tools

import _ "github.com/coredns/coredns"
