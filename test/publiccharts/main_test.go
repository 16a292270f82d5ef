package publiccharts

import (
	"testing"

	"github.com/headless-guard/headless-guard/test/cluster"
	"github.com/headless-guard/headless-guard/test/framework"
)

// One control plane, with headless-guard running on it, serves every test
// of this package that calls guard; each test works in namespaces of its own.
var shared framework.Shared

// guardMu is held through their kubectl calls by the tests that need
// particular flags.
var guardMu = &shared.Mu

// guard returns the shared cluster with headless-guard running with args
// (restarted when they differ from the running guard's).
func guard(t *testing.T, args ...string) *cluster.Cluster {
	t.Helper()
	return shared.Guard(t, args...)
}

func TestMain(m *testing.M) { framework.Main(m, shared.Stop) }
