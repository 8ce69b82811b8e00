//go:build tools

// Package tools pins the Kubernetes control-plane binaries of the local control plane
// (kube-apiserver, kube-scheduler, kube-controller-manager). See ../README.md.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
)
