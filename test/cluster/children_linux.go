package cluster

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// groupLeaderChildren lists the children of this process that lead their
// own process group, from /proc/<pid>/stat.
func groupLeaderChildren() []int {
	self := os.Getpid()
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var pids []int
	for _, path := range stats {
		data, err := os.ReadFile(path)
		if err != nil {
			continue // exited meanwhile
		}
		// "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
		s := string(data)
		end := strings.LastIndexByte(s, ')')
		if end < 0 {
			continue
		}
		f := strings.Fields(s[end+1:])
		if len(f) < 3 {
			continue
		}
		pid, err1 := strconv.Atoi(strings.Fields(s)[0])
		ppid, err2 := strconv.Atoi(f[1])
		pgrp, err3 := strconv.Atoi(f[2])
		if err1 == nil && err2 == nil && err3 == nil && ppid == self && pgrp == pid {
			pids = append(pids, pid)
		}
	}
	return pids
}
