//go:build tools

// Package tools records the containerd main packages built by hack/tools.mk
// (containerd, ctr, containerd-shim-runc-v2) so that `go mod tidy` in this
// directory keeps their dependencies in go.mod/go.sum. It is never compiled.
package tools

import (
	_ "github.com/containerd/containerd/v2/cmd/containerd"
	_ "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2"
	_ "github.com/containerd/containerd/v2/cmd/ctr"
)
