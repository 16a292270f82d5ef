package cluster

import "syscall"

// mntDetach unmounts lazily: a mount point still in use (a leftover
// container's root filesystem) is detached at once and freed when unused.
const mntDetach = syscall.MNT_DETACH
