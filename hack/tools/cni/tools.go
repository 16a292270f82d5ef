//go:build tools

// Package tools records the CNI plugins built by hack/tools.mk (bridge,
// host-local, loopback, portmap) so that `go mod tidy` in this directory
// keeps their dependencies in go.mod/go.sum. It is never compiled.
package tools

import (
	_ "github.com/containernetworking/plugins/plugins/ipam/host-local"
	_ "github.com/containernetworking/plugins/plugins/main/bridge"
	_ "github.com/containernetworking/plugins/plugins/main/loopback"
	_ "github.com/containernetworking/plugins/plugins/meta/portmap"
)
