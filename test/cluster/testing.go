package cluster

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
)

// Setup starts a cluster for t and stops it when t and its subtests are
// done, after dumping the logs if t failed. It fails t when the cluster
// does not start.
func Setup(t testing.TB, opts Options) *Cluster {
	t.Helper()
	// Not t.Context(): that ends before cleanups run, and the logs must
	// still be there for DumpLogs.
	c, err := Start(context.Background(), opts)
	if err != nil {
		t.Fatalf("starting the cluster: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("stopping the cluster: %v", err)
		}
	})
	t.Cleanup(func() {
		if t.Failed() {
			c.DumpLogs(t)
		}
	})
	return c
}

// DumpLogs logs the stderr of the current (or last) guard run, the end of
// kube-apiserver's log and, in a full cluster, the end of each
// component's log to t, and names the files of earlier guard runs.
func (c *Cluster) DumpLogs(t testing.TB) {
	t.Helper()
	if g := c.Guard(); g != nil {
		current := g.LogPath()
		for i := 1; i <= c.guardRunCount(); i++ {
			if p := filepath.Join(c.logDir, fmt.Sprintf("guard-%d.log", i)); p != current {
				t.Logf("=== earlier guard run: %s", p)
			}
		}
		t.Logf("=== %s:\n%s", current, readFile(current))
	}
	p := filepath.Join(c.logDir, "kube-apiserver.log")
	t.Logf("=== %s (end):\n%s", p, tail(readFile(p), 100))
	for _, p := range c.componentLogs() {
		t.Logf("=== %s (end):\n%s", p, tail(readFile(p), 80))
	}
}
