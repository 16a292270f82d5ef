//go:build !linux

package main

// stopWithParent needs prctl(PR_SET_PDEATHSIG): elsewhere, stop this
// process with Ctrl-C or a signal of its own.
func stopWithParent() {}
