//go:build tools

// Package tools records the main packages built by hack/tools.mk (and
// cmd/coredns, a package of this module, records CoreDNS's) so that
// `go mod tidy` in this directory keeps their dependencies in go.mod/go.sum.
// It is never compiled (importing a main package is not allowed); the
// binaries are built with `make -f hack/tools.mk tools` from the repo root.
package tools

import (
	_ "helm.sh/helm/v3/cmd/helm"
	_ "helm.sh/helm/v4/cmd/helm"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "sigs.k8s.io/kwok/cmd/kwok"
)
