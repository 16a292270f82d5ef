package framework

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/headless-guard/headless-guard/test/cluster"
)

// Shared is one control plane with headless-Guard running on it, shared by
// the tests of one package: each test works in namespaces of its own, and
// the package's TestMain stops it (Main's Stop argument). Packages run in
// parallel, each with its own Shared.
type Shared struct {
	// Mu is held through their kubectl calls by the tests that need
	// particular flags, so that no other test restarts the Guard meanwhile.
	Mu sync.Mutex

	once sync.Once
	c    *cluster.Cluster
	err  error
	args []string
}

// Guard returns the shared cluster with headless-Guard running with args
// (restarted when they differ from the running Guard's), starting both on
// first use.
func (s *Shared) Guard(t *testing.T, args ...string) *cluster.Cluster {
	t.Helper()
	s.once.Do(func() {
		s.c, s.err = cluster.Start(context.Background(), cluster.Options{})
		if s.err == nil {
			s.args = []string{TestAuditGrace, "--mode=enforce"}
			_, s.err = s.c.StartGuard(context.Background(), s.args...)
		}
	})
	if s.err != nil {
		t.Fatalf("starting the control plane and headless-guard: %v", s.err)
	}
	if len(args) == 0 {
		// Restart without arguments keeps the previous ones: name the default.
		args = []string{"--mode=enforce"}
	}
	// The audit's tests expect their findings reported within seconds; a
	// test of the grace period passes its own, which wins (the last flag).
	args = append([]string{TestAuditGrace}, args...)
	if !slices.Equal(s.args, args) {
		if err := s.c.Guard().Restart(args...); err != nil {
			t.Fatalf("restarting headless-guard with %v: %v", args, err)
		}
		s.args = append([]string(nil), args...)
	}
	t.Cleanup(func() {
		if t.Failed() {
			s.c.DumpLogs(t)
		}
	})
	return s.c
}

// Stop stops the shared cluster, if a test started it.
func (s *Shared) Stop() {
	if s.c != nil {
		s.c.Stop()
	}
}
