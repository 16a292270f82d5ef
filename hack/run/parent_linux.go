package main

import (
	"os"
	"syscall"
)

// stopWithParent asks the kernel for SIGTERM when the parent process dies.
// `make run` runs this under `go run`, which dies of the SIGTERM make
// forwards to it on `kill <make>` without passing it on: this process
// would be left running the control plane with nobody to stop it.
func stopWithParent() {
	parent := os.Getppid()
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_PDEATHSIG, uintptr(syscall.SIGTERM), 0); errno != 0 {
		return
	}
	if os.Getppid() != parent { // it died before the request took effect
		_ = syscall.Kill(os.Getpid(), syscall.SIGTERM)
	}
}
