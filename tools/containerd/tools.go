//go:build tools

// Package tools pins containerd 2.x (daemon, runc shim, ctr) for the optional real node
// (`tools/build.sh --real-node`); runc and the CNI plugins come from Debian.
package tools

import (
	_ "github.com/containerd/containerd/v2/cmd/containerd"
	_ "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2"
	_ "github.com/containerd/containerd/v2/cmd/ctr"
)
