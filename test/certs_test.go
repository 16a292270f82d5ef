package test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/headless-guard/headless-guard/certs"
	"github.com/headless-guard/headless-guard/test/cluster"
)

// guardNamespace is the webhook's own namespace in deploy/.
const guardNamespace = "headless-guard-system"

// selfManagedArgs run the guard in self-managed mode with its Secret in
// guardNamespace, its files in a directory of its own (not envtest's) and
// a certificate for 127.0.0.1, where envtest points the configurations.
func selfManagedArgs(t *testing.T, extra ...string) []string {
	return append([]string{
		"--cert-mode=self-managed",
		"--cert-namespace=" + guardNamespace,
		"--webhook-cert-path=" + t.TempDir(),
		"--cert-dns-names=127.0.0.1,localhost",
	}, extra...)
}

// ownCluster is a control plane for one test (these tests change the
// webhook configurations' caBundle, which the shared cluster's guard
// needs), with guardNamespace created.
func ownCluster(t *testing.T) *cluster.Cluster {
	t.Helper()
	return ownClusterWith(t, cluster.Options{})
}

// ownClusterWith is ownCluster with options.
func ownClusterWith(t *testing.T, opts cluster.Options) *cluster.Cluster {
	t.Helper()
	c := cluster.Setup(t, opts)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: guardNamespace}}
	if err := c.Client().Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return c
}

// replica is a headless-guard process the test starts itself, next to the
// cluster's own guard.
type replica struct {
	cmd                 *exec.Cmd
	health, webhookAddr string
	logPath             string
	done                chan struct{}
}

// startReplica runs `headless-guard serve` against c on free local ports
// with args appended; it does not wait for it to be ready. It is stopped
// when the test ends.
func startReplica(t *testing.T, c *cluster.Cluster, name string, args ...string) *replica {
	t.Helper()
	ports, err := cluster.FreePorts(3, false)
	if err != nil {
		t.Fatal(err)
	}
	r := &replica{
		health:      fmt.Sprintf("127.0.0.1:%d", ports[0]),
		webhookAddr: fmt.Sprintf("127.0.0.1:%d", ports[2]),
		logPath:     filepath.Join(c.LogDir(), name+".log"),
		done:        make(chan struct{}),
	}
	all := append([]string{"serve",
		"--kubeconfig", c.KubeconfigPath(),
		"--webhook-host", "127.0.0.1", "--webhook-port", strconv.Itoa(ports[2]),
		"--health-probe-bind-address", r.health,
		"--metrics-bind-address", fmt.Sprintf("127.0.0.1:%d", ports[1]), "--metrics-secure=false",
	}, args...)
	logFile, err := os.Create(r.logPath)
	if err != nil {
		t.Fatal(err)
	}
	r.cmd = exec.Command(binary, all...)
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
		r.stop()
		if t.Failed() {
			t.Logf("=== %s:\n%s", r.logPath, r.logs())
		}
	})
	return r
}

// stop sends SIGTERM and waits for the process to exit (SIGKILL after 15s).
func (r *replica) stop() {
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

func (r *replica) logs() string {
	data, _ := os.ReadFile(r.logPath)
	return string(data)
}

// readyz is the status and body of the replica's /readyz.
func readyz(addr string) (int, string) {
	resp, err := (&http.Client{Timeout: 2 * time.Second}).Get("http://" + addr + "/readyz?verbose")
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func (r *replica) waitReady(t *testing.T) {
	t.Helper()
	eventually(t, 60*time.Second, r.logPath+" ready", func() (bool, string) {
		select {
		case <-r.done:
			t.Fatalf("%s exited:\n%s", r.logPath, r.logs())
		default:
		}
		code, body := readyz(r.health)
		return code == http.StatusOK, body
	})
}

// servedCertificate is the leaf a TLS client meets at addr, verified
// against roots when roots is not nil.
func servedCertificate(addr string, roots *x509.CertPool) (*x509.Certificate, error) {
	conf := &tls.Config{ServerName: "127.0.0.1", RootCAs: roots, InsecureSkipVerify: roots == nil}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", addr, conf)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0], nil
}

// registeredCABundle is the caBundle the API server verifies the
// validating webhooks with.
func registeredCABundle(ctx context.Context, c client.Client) ([]byte, error) {
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	if err := c.Get(ctx, client.ObjectKey{Name: certs.DefaultWebhookConfigName}, vwc); err != nil {
		return nil, err
	}
	return vwc.Webhooks[0].ClientConfig.CABundle, nil
}

func secretData(t *testing.T, c *cluster.Cluster) map[string][]byte {
	t.Helper()
	s := &corev1.Secret{}
	if err := c.Client().Get(context.Background(), client.ObjectKey{Namespace: guardNamespace, Name: certs.DefaultSecretName}, s); err != nil {
		t.Fatal(err)
	}
	return s.Data
}

func pemCerts(t *testing.T, data []byte) []*x509.Certificate {
	t.Helper()
	var out []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return out
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
}

// TestReplicasStartingTogetherOneCA starts three headless-guard processes
// at the same moment in self-managed mode against a cluster without their
// Secret: they must end with one CA, in the Secret and in the webhook
// configurations, and all serve the Secret's certificate.
func TestReplicasStartingTogetherOneCA(t *testing.T) {
	c := ownCluster(t)
	var replicas []*replica
	for i := range 3 {
		replicas = append(replicas, startReplica(t, c, fmt.Sprintf("replica-%d", i), selfManagedArgs(t)...))
	}
	for _, r := range replicas {
		r.waitReady(t)
	}

	data := secretData(t, c)
	cas := pemCerts(t, data[certs.KeyCABundle])
	if len(cas) != 1 {
		t.Fatalf("the Secret holds %d CAs, want 1", len(cas))
	}
	bundle, err := registeredCABundle(t.Context(), c.Client())
	if err != nil || !bytes.Equal(bundle, data[certs.KeyCABundle]) {
		t.Fatalf("the webhook configurations' caBundle is not the Secret's CA (%v)", err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cas[0])
	leaf := pemCerts(t, data[certs.KeyCert])[0]
	var logs string
	for _, r := range replicas {
		got, err := servedCertificate(r.webhookAddr, roots)
		if err != nil {
			t.Errorf("%s: %v", r.logPath, err)
		} else if !got.Equal(leaf) {
			t.Errorf("%s serves another certificate than the Secret's", r.logPath)
		}
		logs += r.logs()
	}
	created := strings.Count(logs, "created the certificate Secret")
	t.Logf("Secrets created: %d; creates lost to another replica: %d", created, strings.Count(logs, "another replica created the Secret first"))
	if created != 1 {
		t.Errorf("%d replicas logged creating the Secret, want 1", created)
	}
}

// TestCertificateRotationUnderLoad renews the serving certificate (every
// ~5 s: --cert-validity=8s) and the CA (at ~15 s: --ca-validity=24s) while workers
// send StatefulSet creates (server-side dry run) through the API server,
// which calls the validating webhook with failurePolicy Fail: a certificate
// the API server cannot verify fails the request. A prober meanwhile makes
// a new TLS connection every 50 ms and verifies it against the caBundle
// registered at that moment, as the API server does for a new connection.
// Both must see zero failures across several renewals and a CA change.
func TestCertificateRotationUnderLoad(t *testing.T) {
	c := ownCluster(t)
	g, err := c.StartGuard(t.Context(), selfManagedArgs(t, "--cert-validity=8s", "--ca-validity=24s")...)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	cl := c.Client()
	ns := namespace(t, c, "rotation", nil)
	mustKubectl(t, c, []byte(serviceYAML("web", "")), "apply", "-n", ns, "-f", "-")

	const (
		duration   = 22 * time.Second
		workers    = 4
		maxRequest = 20000
	)
	start := time.Now()
	deadline := start.Add(duration)
	var requests, failures atomic.Int64
	var firstFailure atomic.Value
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := 0; time.Now().Before(deadline) && requests.Load() < maxRequest; i++ {
				sts := &appsv1.StatefulSet{}
				if err := yaml.Unmarshal([]byte(statefulSetYAML("web", "web", "")), sts); err != nil {
					panic(err)
				}
				sts.Name, sts.Namespace = fmt.Sprintf("web-%d-%d", w, i), ns
				rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				err := cl.Create(rctx, sts, client.DryRunAll)
				cancel()
				requests.Add(1)
				if err != nil {
					failures.Add(1)
					firstFailure.CompareAndSwap(nil, err.Error())
				}
			}
		})
	}
	var probes, probeFailures int
	serials, issuers := map[string]bool{}, map[string]bool{}
	var lastProbeErr error
	var lastLeaf *x509.Certificate
	wg.Go(func() {
		for time.Now().Before(deadline) {
			bundle, err := registeredCABundle(ctx, cl)
			if err == nil {
				roots := x509.NewCertPool()
				roots.AppendCertsFromPEM(bundle)
				var leaf *x509.Certificate
				leaf, err = servedCertificate(fmt.Sprintf("127.0.0.1:%d", c.WebhookPort()), roots)
				if err == nil {
					serials[leaf.SerialNumber.String()] = true
					issuers[string(leaf.AuthorityKeyId)] = true
					lastLeaf = leaf
				}
			}
			probes++
			if err != nil {
				probeFailures++
				lastProbeErr = err
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	wg.Wait()
	elapsed := time.Since(start)
	t.Logf("%d admission requests through the API server in %s (%d failed); %d TLS probes (%d failed); %d serving certificates from %d CAs",
		requests.Load(), elapsed.Round(100*time.Millisecond), failures.Load(), probes, probeFailures, len(serials), len(issuers))
	if failures.Load() > 0 {
		t.Errorf("%d of %d requests failed during rotation; first: %v", failures.Load(), requests.Load(), firstFailure.Load())
	}
	if probeFailures > 0 {
		t.Errorf("%d of %d new TLS connections failed to verify against the registered caBundle; last: %v", probeFailures, probes, lastProbeErr)
	}
	if requests.Load() < 200 {
		t.Errorf("only %d requests: not a load", requests.Load())
	}
	if len(serials) < 4 || len(issuers) < 2 {
		t.Errorf("saw %d serving certificates from %d CAs; want the serving certificate renewed several times and the CA once", len(serials), len(issuers))
	}
	if lastLeaf == nil {
		t.Fatal("no probe succeeded")
	}
	// The gauge follows the certificate in use.
	resp, err := http.Get(g.MetricsURL())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := fmt.Sprintf("headless_guard_certificate_expiry_timestamp_seconds %s", strconv.FormatFloat(float64(lastLeaf.NotAfter.Unix()), 'g', -1, 64))
	if !strings.Contains(string(body), want) {
		t.Errorf("metrics: want %q, got:\n%s", want, grepLines(string(body), "certificate_expiry"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
