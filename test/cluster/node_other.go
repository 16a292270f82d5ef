//go:build !linux

package cluster

// mntDetach: a Node runs on Linux only (NodeUnavailable says so elsewhere).
const mntDetach = 0
