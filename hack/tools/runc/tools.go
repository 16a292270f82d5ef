//go:build tools

// Package tools records the runc main package built by hack/tools.mk so that
// `go mod tidy` in this directory keeps its dependencies in go.mod/go.sum.
// It is never compiled.
package tools

import (
	_ "github.com/opencontainers/runc"
)
