//go:build tools

// Package tools pins Argo Workflows' workflow-controller, a peer of the full benchmark only
// (bench/peers/argo.ts; built by `tools/build.sh workflow-controller`, never by `npm run tools`).
// v4.0.5 is the only v4 the module proxy serves and carries reported security advisories: it runs
// out of cluster on loopback only, against the bench's throwaway control plane.
package tools

import _ "github.com/argoproj/argo-workflows/v4/cmd/workflow-controller"
