package framework

import (
	"os"
	"testing"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/headless-guard/headless-guard/test/cluster"
)

// Binary is the path of bin/headless-Guard, set by Main before the tests run.
var Binary string

// Main is the TestMain of every test package under test/: it finds the
// binary, runs the tests, then calls each Stop (a Shared's Stop) and exits.
func Main(m *testing.M, stops ...func()) {
	// controller-runtime's client (used through test/cluster) Logs through
	// this; without a logger it complains after 30 s.
	ctrllog.SetLogger(logr.Discard())
	// bin/headless-Guard as `make build` made it (built here only when it
	// is missing or older than the sources).
	root, err := cluster.RepoRoot()
	if err == nil {
		Binary, err = cluster.GuardBinary(root)
	}
	if err != nil {
		panic("the headless-guard binary: " + err.Error())
	}
	code := m.Run()
	for _, stop := range stops {
		stop()
	}
	os.Exit(code)
}
