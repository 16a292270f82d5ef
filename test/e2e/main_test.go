package e2e

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/headless-guard/headless-guard/test/cluster"
)

// cl is the cluster every test of the package shares. Tests work in
// namespaces of their own; a test that changes the cluster for everyone
// (disableGuard) holds guardMu exclusively, every other one shares it.
var cl *cluster.Cluster

func TestMain(m *testing.M) {
	// envtest's own logging is noise here; every process logs to a file.
	ctrllog.SetLogger(logr.Discard())
	os.Exit(run(m))
}

func run(m *testing.M) int {
	// Kept when a test fails, removed otherwise: DumpLogs shows the end of
	// each log, the whole files may explain more.
	logDir, err := os.MkdirTemp("", "headless-guard-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	start := time.Now()
	c, err := cluster.Start(context.Background(), cluster.Options{Full: true, LogDir: logDir})
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\ne2e: logs kept in %s\n", err, logDir)
		return 1
	}
	up := time.Since(start)
	// Default flags: what a user gets from deploy/.
	if _, err := c.StartGuard(context.Background()); err != nil {
		c.Stop()
		fmt.Fprintf(os.Stderr, "e2e: %v\ne2e: logs kept in %s\n", err, logDir)
		return 1
	}
	fmt.Printf("e2e: cluster up in %s, headless-guard serving after %s; DNS on %s\n",
		up.Round(100*time.Millisecond), time.Since(start).Round(100*time.Millisecond), c.DNSAddr())
	cl = c

	code := m.Run()

	if err := c.ComponentsAlive(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: a component died during the tests: %v\n", err)
		code = 1
	}
	stopping := time.Now()
	if err := c.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: stopping the cluster: %v\n", err)
		code = 1
	}
	fmt.Printf("e2e: cluster stopped in %s\n", time.Since(stopping).Round(100*time.Millisecond))
	if code != 0 {
		fmt.Fprintf(os.Stderr, "e2e: logs kept in %s\n", logDir)
	} else {
		os.RemoveAll(logDir)
	}
	return code
}
