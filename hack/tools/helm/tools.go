//go:build tools

// Package tools records the helm main package built by hack/tools.mk so that
// `go mod tidy` in this directory keeps its dependencies in go.mod/go.sum.
// It is never compiled (importing a main package is not allowed).
package tools

import (
	_ "helm.sh/helm/v4/cmd/helm"
)
