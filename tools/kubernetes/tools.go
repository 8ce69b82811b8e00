//go:build tools

// Package tools pins the Kubernetes binaries of the local control plane (kube-apiserver,
// kube-scheduler, kube-controller-manager) and of the optional real node (kubelet, kube-proxy;
// built only by `tools/build.sh --real-node`). See ../README.md.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
