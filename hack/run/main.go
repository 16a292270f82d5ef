// Command run is `make run`: a small local cluster (etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, kwok running pods on one fake
// Node, CoreDNS serving cluster.local on 127.0.0.1:1053) with the webhook
// configurations of deploy/base/webhooks.yaml, headless-guard serving them
// on 127.0.0.1:9443, and an admin kubeconfig in .local/kubeconfig, until
// Ctrl-C. Extra arguments go to `headless-guard serve`
// (make run ARGS="--mode=warn").
package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/headless-guard/headless-guard/test/cluster"
)

// try is a command the banner suggests, and what its output shows.
type try struct {
	// files are the manifests it applies, relative to the repository.
	files []string
	// command is the shell command, with %s for the files' paths.
	command string
	// shows is a line of its output that says it did what the banner
	// promises (main_test.go runs every command and looks for it).
	shows string
}

// tries are one manifest accepted (seed 000, whose pods get the names that `headless-guard dns`
// then shows), one denied on create (HG002), and one denied on create in
// a namespace of its own (HG004: in default it would update seed 000's
// Service and show HG011).
var tries = []try{
	{[]string{"rules/testdata/seeds/seed-000-nginx-web.yaml"}, "kubectl apply -f %s", "statefulset.apps/web created"},
	{[]string{"rules/testdata/HG002/fail-typo.yaml"}, "kubectl apply -f %s", "(HG002 service-exists)"},
	{[]string{"rules/testdata/HG004/fail-label-missing.yaml"}, "kubectl create namespace try-hg004 && kubectl apply -n try-hg004 -f %s", "(HG004 selector-matches-pods)"},
}

// commandLine is t's command with the files' absolute paths.
func (t try) commandLine(root string) string {
	args := make([]any, len(t.files))
	for i, f := range t.files {
		args[i] = filepath.Join(root, f)
	}
	return fmt.Sprintf(t.command, args...)
}

// Fixed ports, so that the printed commands work as they are.
const (
	webhookPort = 9443
	dnsPort     = 1053
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "make run:", err)
		os.Exit(1)
	}
}

// installReportCRD applies the openreports.io Report CRD shipped in the
// reports-api module.
func installReportCRD(ctx context.Context, c *cluster.Cluster, root string) error {
	cmd := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", "github.com/openreports/reports-api")
	cmd.Dir = root
	dir, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("locating the reports-api module for the Report CRD: %w", err)
	}
	crd := filepath.Join(strings.TrimSpace(string(dir)), "config", "crd", "openreports.io_reports.yaml")
	if _, stderr, err := c.Kubectl(ctx, nil, "apply", "--server-side", "-f", crd); err != nil {
		return fmt.Errorf("installing the Report CRD: %w\n%s", err, stderr)
	}
	return nil
}

func run(guardArgs []string) error {
	// The control plane's output goes to .local/logs; envtest's own
	// logging would only add controller-runtime's "SetLogger was never
	// called" warning after 30 seconds.
	ctrllog.SetLogger(logr.Discard())

	root, err := cluster.RepoRoot()
	if err != nil {
		return err
	}
	for _, t := range tries {
		for _, f := range t.files {
			if _, err := os.Stat(filepath.Join(root, f)); err != nil {
				return fmt.Errorf("a manifest the banner suggests is missing: %w", err)
			}
		}
	}
	local := filepath.Join(root, ".local")
	logDir := filepath.Join(local, "logs")

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Ctrl-C on `make run | tee log` ends tee too: the messages written
	// while stopping must fail quietly, not end this process before it has
	// stopped the control plane.
	signal.Ignore(syscall.SIGPIPE)
	stopWithParent()

	start := time.Now()
	fmt.Fprintf(os.Stderr, "starting etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok and CoreDNS (logs in %s)...\n", logDir)
	c, err := cluster.Start(ctx, cluster.Options{
		WebhookPort:    webhookPort,
		KubeconfigPath: filepath.Join(local, "kubeconfig"),
		LogDir:         logDir,
		Full:           true,
		DNSPort:        dnsPort,
	})
	if err != nil {
		return err
	}
	defer c.Stop()
	fmt.Fprintf(os.Stderr, "cluster up in %s; starting headless-guard serve %s...\n",
		time.Since(start).Round(100*time.Millisecond), strings.Join(guardArgs, " "))
	// The guard creates and renews its own certificate (certs.go).
	certArgs, err := selfManagedCerts(ctx, c, local)
	if err != nil {
		return err
	}
	// The audit keeps its findings in Reports: their CRD, from the module
	// this repository requires.
	if err := installReportCRD(ctx, c, root); err != nil {
		return err
	}
	g, err := c.StartGuard(ctx, append(certArgs, guardArgs...)...)
	if err != nil {
		return err
	}

	fmt.Printf("headless-guard is running in a local cluster: pods run on the fake node %s (kwok),\n", cluster.NodeName)
	fmt.Printf("CoreDNS answers for %s on %s.\n", cluster.ClusterDomain, c.DNSAddr())
	fmt.Printf("  export KUBECONFIG=%s\n", c.KubeconfigPath())
	fmt.Printf("  export PATH=%s:$PATH\n", filepath.Join(root, "bin"))
	fmt.Printf("Metrics: %s\n", g.MetricsURL())
	fmt.Printf("Try:\n")
	for _, t := range tries {
		fmt.Printf("  %s\n", t.commandLine(root))
	}
	fmt.Printf("and what the audit finds in what already runs: kubectl get reports -A\n")
	// headless-guard itself asks CoreDNS: a fresh machine has no dig.
	fmt.Printf("then, once `kubectl get pods -l app=nginx -o wide` shows web-0..2 Running, what each name\n")
	fmt.Printf("should answer, what the cluster's objects make CoreDNS answer, and what it answers:\n")
	fmt.Printf("  headless-guard dns statefulset/web --resolve %s\n", c.DNSAddr())
	fmt.Printf("  headless-guard dns --all-namespaces --resolve %s\n", c.DNSAddr())
	fmt.Printf("Press Ctrl-C to stop.\n")

	select {
	case <-ctx.Done():
		// A second Ctrl-C now ends this process at once (the cluster's
		// watchdog still stops what it started); more SIGTERMs, as the
		// death of `go run` sends one, must not cut the shutdown short.
		stop()
		signal.Ignore(syscall.SIGTERM)
		fmt.Fprintln(os.Stderr, "\nstopping headless-guard and the cluster...")
	case <-g.Done():
		fmt.Fprint(os.Stderr, g.Logs())
		err = fmt.Errorf("headless-guard exited (log: %s)", g.LogPath())
	}
	if stopErr := c.Stop(); stopErr != nil && err == nil {
		err = stopErr
	}
	if err == nil {
		fmt.Fprintln(os.Stderr, "stopped.")
	}
	return err
}
