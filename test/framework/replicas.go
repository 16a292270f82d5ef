package framework

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/headless-guard/headless-guard/certs"
	"github.com/headless-guard/headless-guard/test/cluster"
)

// GuardNamespace is the webhook's own namespace in deploy/.
const GuardNamespace = "headless-guard-system"

// SelfManagedArgs run the guard in self-managed mode with its Secret in
// GuardNamespace, its files in a directory of its own (not envtest's) and
// a certificate for 127.0.0.1, where envtest points the configurations.
func SelfManagedArgs(t *testing.T, extra ...string) []string {
	return append([]string{
		"--cert-mode=self-managed",
		"--cert-namespace=" + GuardNamespace,
		"--webhook-cert-path=" + t.TempDir(),
		"--cert-dns-names=127.0.0.1,localhost",
	}, extra...)
}

// StartGuard is c.StartGuard for the test t: the guard is stopped when t
// ends, before the directories t.TempDir made for its arguments (such as
// SelfManagedArgs' certificate directory) are removed. Cleanups run last
// registered first, and args are made before this one is registered. A
// guard left to the cluster's own cleanup would still be running then, and
// one that renews its certificate into the directory as it is removed
// fails the test ("directory not empty").
func StartGuard(t *testing.T, c *cluster.Cluster, args ...string) *cluster.Guard {
	t.Helper()
	g, err := c.StartGuard(t.Context(), args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Stop() })
	return g
}

// OwnCluster is a control plane for one test (for tests that change the
// webhook configurations' caBundle, which a package's shared guard
// needs), with GuardNamespace created.
func OwnCluster(t *testing.T) *cluster.Cluster {
	t.Helper()
	return OwnClusterWith(t, cluster.Options{})
}

// OwnClusterWith is OwnCluster with options.
func OwnClusterWith(t *testing.T, opts cluster.Options) *cluster.Cluster {
	t.Helper()
	c := cluster.Setup(t, opts)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: GuardNamespace}}
	if err := c.Client().Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return c
}

// Replica is a headless-guard process the test starts itself, next to the
// cluster's own guard.
type Replica struct {
	cmd                 *exec.Cmd
	Health, WebhookAddr string
	LogPath             string
	done                chan struct{}
}

// StartReplica runs `headless-guard serve` against c on free local ports
// with args appended; it does not wait for it to be ready. It is stopped
// when the test ends.
func StartReplica(t *testing.T, c *cluster.Cluster, name string, args ...string) *Replica {
	t.Helper()
	ports, err := cluster.FreePorts(3, false)
	if err != nil {
		t.Fatal(err)
	}
	r := &Replica{
		Health:      fmt.Sprintf("127.0.0.1:%d", ports[0]),
		WebhookAddr: fmt.Sprintf("127.0.0.1:%d", ports[2]),
		LogPath:     filepath.Join(c.LogDir(), name+".log"),
		done:        make(chan struct{}),
	}
	all := append([]string{"serve",
		"--kubeconfig", c.KubeconfigPath(),
		"--webhook-host", "127.0.0.1", "--webhook-port", strconv.Itoa(ports[2]),
		"--health-probe-bind-address", r.Health,
		"--metrics-bind-address", fmt.Sprintf("127.0.0.1:%d", ports[1]), "--metrics-secure=false",
	}, args...)
	logFile, err := os.Create(r.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	r.cmd = exec.Command(Binary, all...)
	r.cmd.Stdout, r.cmd.Stderr = logFile, logFile
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		r.cmd.Wait()
		logFile.Close()
		close(r.done)
	}()
	t.Cleanup(func() {
		r.Stop()
		if t.Failed() {
			t.Logf("=== %s:\n%s", r.LogPath, r.Logs())
		}
	})
	return r
}

// Stop sends SIGTERM and waits for the process to exit (SIGKILL after 15s).
func (r *Replica) Stop() {
	select {
	case <-r.done:
		return
	default:
	}
	r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(15 * time.Second):
		r.cmd.Process.Kill()
		<-r.done
	}
}

// Logs is what the replica has logged so far.
func (r *Replica) Logs() string {
	data, _ := os.ReadFile(r.LogPath)
	return string(data)
}

// Readyz is the status and body of the replica's /Readyz.
func Readyz(addr string) (int, string) {
	resp, err := (&http.Client{Timeout: 2 * time.Second}).Get("http://" + addr + "/readyz?verbose")
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// WaitReady waits up to a minute for the replica's /readyz to answer 200.
func (r *Replica) WaitReady(t *testing.T) {
	t.Helper()
	Eventually(t, 60*time.Second, r.LogPath+" ready", func() (bool, string) {
		select {
		case <-r.done:
			t.Fatalf("%s exited:\n%s", r.LogPath, r.Logs())
		default:
		}
		code, body := Readyz(r.Health)
		return code == http.StatusOK, body
	})
}

// RegisteredCABundle is the caBundle the API server verifies the
// validating webhooks with.
func RegisteredCABundle(ctx context.Context, c client.Client) ([]byte, error) {
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	if err := c.Get(ctx, client.ObjectKey{Name: certs.DefaultWebhookConfigName}, vwc); err != nil {
		return nil, err
	}
	return vwc.Webhooks[0].ClientConfig.CABundle, nil
}

// SecretData is the data of the guard's certificate Secret in GuardNamespace.
func SecretData(t *testing.T, c *cluster.Cluster) map[string][]byte {
	t.Helper()
	s := &corev1.Secret{}
	if err := c.Client().Get(context.Background(), client.ObjectKey{Namespace: GuardNamespace, Name: certs.DefaultSecretName}, s); err != nil {
		t.Fatal(err)
	}
	return s.Data
}

// GrepLines is the lines of s that contain sub.
func GrepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
