package cluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

func TestMain(m *testing.M) {
	// envtest's own logging is noise here; the control plane logs to files.
	ctrllog.SetLogger(logr.Discard())
	if os.Getenv(orphanHelperEnv) != "" {
		orphanHelper()
		return
	}
	os.Exit(m.Run())
}

func TestClusterServesKubectlAndClient(t *testing.T) {
	c := Setup(t, Options{})
	ctx := t.Context()

	out, _, err := c.Kubectl(ctx, nil, "get", "namespaces", "-o", "name")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "namespace/default") {
		t.Errorf("kubectl get namespaces: no namespace/default in\n%s", out)
	}

	cm := []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: harness\n  namespace: default\ndata:\n  key: value\n")
	if out, _, err := c.Kubectl(ctx, cm, "apply", "-f", "-"); err != nil {
		t.Fatal(err)
	} else if strings.TrimSpace(out) != "configmap/harness created" {
		t.Errorf("kubectl apply: got %q, want %q", out, "configmap/harness created")
	}
	var got corev1.ConfigMap
	if err := c.Client().Get(ctx, types.NamespacedName{Namespace: "default", Name: "harness"}, &got); err != nil {
		t.Fatal(err)
	}
	if got.Data["key"] != "value" {
		t.Errorf("ConfigMap data through the client: %v", got.Data)
	}

	// The real manifests, pointed at the local port with the generated CA.
	prefix := fmt.Sprintf("https://127.0.0.1:%d/", c.WebhookPort())
	for kind, want := range map[string]string{
		"validatingwebhookconfiguration": "/validate/services /validate/statefulsets /validate/workloads",
		"mutatingwebhookconfiguration":   "/mutate/services /mutate/statefulsets",
	} {
		out, _, err := c.Kubectl(ctx, nil, "get", kind, "headless-guard", "-o",
			`jsonpath={range .webhooks[*]}{.clientConfig.url}{" "}{.clientConfig.caBundle}{"\n"}{end}`)
		if err != nil {
			t.Fatal(err)
		}
		var paths []string
		for line := range strings.Lines(strings.TrimSpace(out)) {
			url, ca, _ := strings.Cut(strings.TrimSpace(line), " ")
			if !strings.HasPrefix(url, prefix) || ca == "" {
				t.Errorf("%s: webhook %q with caBundle %q, want %s<path> and a caBundle", kind, url, ca, prefix)
			}
			// Exactly the path a real installation's API server calls: no
			// "//" for the server to answer with a redirect.
			paths = append(paths, "/"+strings.TrimPrefix(url, prefix))
		}
		slices.Sort(paths)
		// Two webhooks may share a path (Service CREATE/UPDATE and DELETE).
		paths = slices.Compact(paths)
		if got := strings.Join(paths, " "); got != want {
			t.Errorf("%s paths: got %q, want %q", kind, got, want)
		}
	}
}

func TestGuardServesAndStops(t *testing.T) {
	start := time.Now()
	c := Setup(t, Options{})
	ctx := t.Context()
	t.Logf("control plane up in %s", time.Since(start).Round(time.Millisecond))

	start = time.Now()
	g, err := c.StartGuard(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("guard serving in %s", time.Since(start).Round(time.Millisecond))
	for _, url := range []string{g.HealthURL() + "/readyz", g.HealthURL() + "/healthz", g.MetricsURL()} {
		if code, _ := get(t, url); code != http.StatusOK {
			t.Errorf("GET %s: %d, want 200", url, code)
		}
	}
	if _, err := c.StartGuard(ctx); err == nil {
		t.Error("a second StartGuard on the same cluster succeeded, want an error")
	}

	pid := g.proc.cmd.Process.Pid
	start = time.Now()
	if err := g.Restart(); err != nil {
		t.Fatal(err)
	}
	t.Logf("guard restarted in %s", time.Since(start).Round(time.Millisecond))
	if alive(pid) {
		t.Errorf("the first guard (pid %d) still runs after Restart", pid)
	}
	if code, _ := get(t, g.HealthURL()+"/readyz"); code != http.StatusOK {
		t.Errorf("after Restart: /readyz %d, want 200", code)
	}

	pid = g.proc.cmd.Process.Pid
	start = time.Now()
	if err := g.Stop(); err != nil {
		t.Errorf("Stop: %v", err)
	}
	t.Logf("guard stopped in %s", time.Since(start).Round(time.Millisecond))
	if alive(pid) {
		t.Errorf("the guard (pid %d) still runs after Stop", pid)
	}

	// The end of the context given to StartGuard stops the guard too.
	gctx, cancel := context.WithCancel(ctx)
	g, err = c.StartGuard(gctx)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case <-g.Done():
	case <-time.After(15 * time.Second):
		t.Errorf("the guard (pid %d) still runs 15s after its context ended", g.proc.cmd.Process.Pid)
	}
}

// TestNothingOutlivesAKilledProcess starts a cluster and a guard in a child
// test process, kills that process with SIGKILL (as a `go test -timeout`
// panic or a killed CI job would end it), and checks that the watchdog
// stops every process it started and removes their data.
func TestNothingOutlivesAKilledProcess(t *testing.T) {
	// etcd, kube-apiserver, headless-guard
	nothingOutlives(t, "1", 3)
}

// nothingOutlives runs orphanHelper in a child process with
// orphanHelperEnv=mode, expects it to report want processes, kills it and
// checks that they and the data directories are gone.
func nothingOutlives(t *testing.T, mode string, want int) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), orphanHelperEnv+"="+mode)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var pids []int
	var dirs []string
	sc := bufio.NewScanner(stdout)
scan:
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 2 && f[0] == "pid":
			n, _ := strconv.Atoi(f[1])
			pids = append(pids, n)
		case len(f) == 2 && f[0] == "dir":
			dirs = append(dirs, f[1])
		case len(f) == 1 && f[0] == "ready":
			break scan
		}
	}
	if len(pids) != want {
		t.Fatalf("helper reported processes %v, want %d (scan: %v)", pids, want, sc.Err())
	}
	for _, pid := range pids {
		if !alive(pid) {
			t.Fatalf("pid %d is not running before the kill", pid)
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	deadline := time.Now().Add(20 * time.Second)
	for _, pid := range pids {
		for alive(pid) && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		if alive(pid) {
			t.Errorf("pid %d outlived the killed test process", pid)
			syscall.Kill(-pid, syscall.SIGKILL)
		}
	}
	for _, d := range dirs {
		for time.Now().Before(deadline) {
			if _, err := os.Stat(d); errors.Is(err, os.ErrNotExist) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s outlived the killed test process (%v)", d, err)
		}
	}
}

const orphanHelperEnv = "HEADLESS_GUARD_CLUSTER_ORPHAN_HELPER"

// orphanHelper is the child process of TestNothingOutlivesAKilledProcess:
// it starts everything, reports what it started on stdout, and waits to
// be killed.
func orphanHelper() {
	c, err := Start(context.Background(), Options{Full: os.Getenv(orphanHelperEnv) == "full"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if _, err := c.StartGuard(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	watchdogMu.Lock()
	for _, pid := range groupLeaderChildren() {
		if !watchdogPIDs[pid] {
			fmt.Printf("pid %d\n", pid)
		}
	}
	watchdogMu.Unlock()
	for _, d := range []string{c.tempDir, c.env.ControlPlane.Etcd.DataDir, c.env.ControlPlane.APIServer.CertDir, c.WebhookCertDir(), c.configDir} {
		if d == "" {
			continue
		}
		fmt.Printf("dir %s\n", d)
	}
	fmt.Println("ready")
	select {}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Errorf("GET %s: %v", url, err)
		return 0, ""
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// alive reports whether pid runs (a zombie counts as gone).
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return !errors.Is(err, os.ErrNotExist)
	}
	s := string(data)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}
