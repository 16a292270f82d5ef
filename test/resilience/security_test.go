package resilience

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/headless-guard/headless-guard/rules"
	"github.com/headless-guard/headless-guard/test/cluster"
	"github.com/headless-guard/headless-guard/test/framework"
)

// TestAttacks makes, as an attacker on the pod network would, each attack
// of docs/reliability.md's threat model against headless-guard running on
// a real kube-apiserver under exactly the ServiceAccount and RBAC of
// deploy/ (self-signed overlay), with the memory limit deploy/ gives it
// (GOMEMLIMIT from a 256 MiB container limit).
func TestAttacks(t *testing.T) {
	c := framework.OwnClusterWith(t, cluster.Options{APIServerFlags: map[string]string{"enable-admission-plugins": "OwnerReferencesPermissionEnforcement"}})
	docs := framework.Render(t, c, "self-signed")
	framework.MustKubectl(t, c, framework.Join(docs, func(d framework.ManifestDoc) bool { return !framework.IsWebhookConfiguration(d) }), "apply", "-f", "-")
	kubeconfig, _, _ := framework.SaKubeconfig(t, c, framework.GuardNamespace, "headless-guard")
	t.Setenv("GOMEMLIMIT", "256MiB")
	// --injected-service-grace-period no longer does anything; it is given
	// so that the collector of old, had it survived, would act within the
	// test's waits.
	g, err := c.StartGuard(t.Context(), "--kubeconfig", kubeconfig, "--leader-elect", "--leader-election-namespace", framework.GuardNamespace,
		"--injected-service-grace-period=1s")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			c.DumpLogs(t)
		}
	})
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(c.WebhookPort()))
	direct := newReviewer(t, c, addr)

	// First, while the high-water mark of the process is its own.
	t.Run("huge kinds keep memory under the limit", func(t *testing.T) {
		pid := g.PID()
		// Resets VmHWM to the current RSS (Linux, proc(5)).
		_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
		before := procStatusKiB(t, pid, "VmRSS")
		body := review(t, "default", admissionv1.Create, metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: strings.Repeat("K", 4<<20)}, framework.StatefulSetYAML("web", "web", ""), "")
		var wg sync.WaitGroup
		var mu sync.Mutex
		codes := map[string]int{}
		for range 40 {
			wg.Go(func() {
				resp, err := direct.hc.Post("https://"+addr+"/validate/statefulsets", "application/json", bytes.NewReader(body))
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					codes[err.Error()]++
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				codes[resp.Status]++
			})
		}
		wg.Wait()
		peak := procStatusKiB(t, pid, "VmHWM")
		t.Logf("40 reviews of 4 MiB at once: RSS %d MiB before, peak %d MiB; answers %v", before>>10, peak>>10, codes)
		// Under the limit the guard runs with (GOMEMLIMIT above): past it a
		// container is killed. The code before peaked at 448 MiB.
		if peak > 256<<10 {
			t.Errorf("peak RSS %d MiB: over the 256 MiB limit", peak>>10)
		}
		// Each is answered: refused (200 with allowed: false), or, for
		// those the body budget held past its wait (on a busy machine the
		// reviews ahead of them take longer), 429 "try again".
		if codes["200 OK"]+codes["429 Too Many Requests"] != 40 || codes["200 OK"] == 0 {
			t.Errorf("answers %v: want all 40 answered (refused with 200, or 429 from the body budget), some refused", codes)
		}
	})

	t.Run("a forged review creates nothing", func(t *testing.T) {
		inject := framework.Namespace(t, c, "forged", map[string]string{rules.InjectLabel: "true"})
		optIn := "  labels:\n    " + rules.InjectLabel + ": \"true\"\n"
		kubeDNS := func(name, ns string) string {
			doc := strings.ReplaceAll(framework.StatefulSetYAML(name, name, optIn), "app: "+name, "k8s-app: kube-dns")
			return strings.Replace(doc, "metadata:\n  name: "+name+"\n", "metadata:\n  name: "+name+"\n  namespace: "+ns+"\n", 1)
		}
		created := framework.ServicesCreatedDuring(t, c, 3*time.Second, func() {
			for _, path := range []string{"/mutate/statefulsets", "/validate/statefulsets"} {
				// In kube-system, which the API server never sends.
				direct.post(path, "", review(t, "kube-system", admissionv1.Create, stsKind, kubeDNS("forged-a", "kube-system"), ""))
				// The request says one namespace, the object another.
				resp, _ := direct.post(path, "", review(t, inject, admissionv1.Create, stsKind, kubeDNS("forged-b", "kube-system"), ""))
				if resp.Allowed || resp.Result == nil || !strings.Contains(resp.Result.Message, "is not the request's namespace") {
					t.Errorf("%s: a review whose object is in another namespace must be refused, got %+v", path, resp)
				}
				// A StatefulSet the API server never stored, in an
				// inject-enabled namespace.
				direct.post(path, "", review(t, inject, admissionv1.Create, stsKind, kubeDNS("forged-c", inject), ""))
			}
		})
		if len(created) > 0 {
			t.Errorf("forged reviews created Services %v", created)
		}
	})

	t.Run("an object label cannot opt in", func(t *testing.T) {
		for _, mode := range []string{"enforce", "warn"} {
			ns := framework.Namespace(t, c, "opt-in-"+mode, map[string]string{rules.ModeLabel: mode})
			dev := framework.LimitedUser(t, c, ns, "dev", rbacv1.PolicyRule{APIGroups: []string{"apps"}, Resources: []string{"statefulsets"}, Verbs: []string{"get", "list", "create"}})
			if _, err := kubectlAs(t, c, dev, []byte(framework.ServiceYAML("probe", "")), "apply", "-n", ns, "-f", "-"); err == nil {
				t.Fatalf("the user may create Services; the attack would prove nothing")
			}
			sts := framework.StatefulSetYAML("sneaky", "sneaky", "  labels:\n    "+rules.InjectLabel+": \"true\"\n")
			var stderr string
			var err error
			created := framework.ServicesCreatedDuring(t, c, 2*time.Second, func() {
				stderr, err = kubectlAs(t, c, dev, []byte(sts), "apply", "-n", ns, "-f", "-")
			})
			if mode == "enforce" && (err == nil || !strings.Contains(stderr, "HG002")) {
				t.Errorf("%s: want the HG002 denial, as without the label: %v\n%s", mode, err, stderr)
			}
			if mode == "warn" && (err != nil || strings.Contains(stderr, "will create")) {
				t.Errorf("%s: want admitted with HG002's warning and no promise of a Service: %v\n%s", mode, err, stderr)
			}
			if len(created) > 0 {
				t.Errorf("%s: Services %v created for a user who may not create Services", mode, created)
			}
		}
		// A StatefulSet that a later admission step rejects leaves nothing.
		framework.CheckRejectedLeavesNothing(t, c, framework.Namespace(t, c, "rejected", map[string]string{rules.InjectLabel: "true"}))
	})

	t.Run("labels a user can set delete nothing", func(t *testing.T) {
		ns := framework.Namespace(t, c, "patcher", nil)
		framework.MustKubectl(t, c, []byte(framework.ServiceYAML("precious", "")), "apply", "-n", ns, "-f", "-")
		uid, _ := framework.GetJSONPath(t, c, "{.metadata.uid}", "service", "precious", "-n", ns)
		patcher := framework.LimitedUser(t, c, ns, "patcher", rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"services"}, Verbs: []string{"get", "list", "patch"}})
		if _, err := kubectlAs(t, c, patcher, nil, "delete", "service", "precious", "-n", ns); err == nil {
			t.Fatal("the user may delete Services; the attack would prove nothing")
		}
		for _, args := range [][]string{
			{"label", "service", "precious", "-n", ns, rules.ManagedByLabel + "=" + rules.ManagedByValue},
			{"annotate", "service", "precious", "-n", ns, rules.StatefulSetAnnotation + "=ghost"},
		} {
			if stderr, err := kubectlAs(t, c, patcher, nil, args...); err != nil {
				t.Fatalf("kubectl %v: %v\n%s", args, err, stderr)
			}
		}
		time.Sleep(5 * time.Second)
		if got, _ := framework.GetJSONPath(t, c, "{.metadata.uid}", "service", "precious", "-n", ns); got != uid {
			t.Errorf("the Service was deleted for the user (uid now %q)", got)
		}
	})

	t.Run("metric labels from fixed sets", func(t *testing.T) {
		const n = 5000
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Go(func() {
				for i := w; i < n; i += 8 {
					kind := metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: fmt.Sprintf("MadeUp%d", i)}
					body := review(t, "default", admissionv1.Operation(fmt.Sprintf("OP%d", i)), kind, framework.StatefulSetYAML("web", "web", ""), "")
					resp, err := direct.hc.Post("https://"+addr+"/validate/statefulsets", "application/json", bytes.NewReader(body))
					if err != nil {
						t.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			})
		}
		wg.Wait()
		body := framework.MetricsText(t, g.MetricsURL())
		var series int
		for line := range strings.Lines(body) {
			if strings.HasPrefix(line, "headless_guard_admission_requests_total{") {
				series++
			}
		}
		t.Logf("after %d reviews of made-up kinds: %d series of headless_guard_admission_requests_total, /metrics %d KB", n, series, len(body)>>10)
		if strings.Contains(body, "MadeUp") || strings.Contains(body, `"OP1`) {
			t.Errorf("a metric carries a value from a request")
		}
		if series > 20 || len(body) > 256<<10 {
			t.Errorf("%d series, /metrics %d KB: must not grow with requests", series, len(body)>>10)
		}
		if !strings.Contains(body, `headless_guard_admission_refused_total{reason="kind",webhook="statefulsets"} 5`) {
			t.Errorf("the refused reviews are not counted by reason:\n%s", framework.GrepLines(body, "refused"))
		}
	})

	// Last: it stops the guard.
	t.Run("an outage blocks only what can be denied", func(t *testing.T) {
		ns := framework.Namespace(t, c, "outage", nil)
		framework.MustKubectl(t, c, []byte(framework.ServiceYAML("web", "")), "apply", "-n", ns, "-f", "-")
		if err := g.Stop(); err != nil {
			t.Fatal(err)
		}
		// HG010 (Service DELETE) and HG012 (pod templates with a subdomain)
		// only warn: they must not fail with the guard down.
		if _, stderr, err := framework.Kubectl(t, c, nil, "delete", "service", "web", "-n", ns); err != nil {
			t.Errorf("Service DELETE with the guard down: %v\n%s", err, stderr)
		}
		pod := `apiVersion: v1
kind: Pod
metadata:
  name: with-subdomain
spec:
  hostname: a
  subdomain: missing
  containers:
  - name: c
    image: nginx:alpine
`
		if _, stderr, err := framework.Kubectl(t, c, []byte(pod), "apply", "-n", ns, "-f", "-"); err != nil {
			t.Errorf("a pod with a subdomain with the guard down: %v\n%s", err, stderr)
		}
		// The control: what can be denied still fails closed.
		if _, stderr, err := framework.Kubectl(t, c, []byte(framework.StatefulSetYAML("web", "web", "")), "apply", "-n", ns, "-f", "-"); err == nil || !strings.Contains(stderr, "failed calling webhook") {
			t.Errorf("a StatefulSet with the guard down must fail closed: %v\n%s", err, stderr)
		}
	})
}

// kubectlAs runs kubectl with kubeconfig and returns its stderr.
func kubectlAs(t *testing.T, c *cluster.Cluster, kubeconfig string, stdin []byte, args ...string) (string, error) {
	t.Helper()
	_, stderr, err := c.Kubectl(context.Background(), stdin, append([]string{"--kubeconfig", kubeconfig}, args...)...)
	return stderr, err
}

// procStatusKiB reads a "kB" field of /proc/PID/status.
func procStatusKiB(t *testing.T, pid int, field string) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// TestClientCertificateAuthentication runs a real kube-apiserver whose
// AdmissionConfiguration gives the webhooks a kubeconfig with a client
// certificate, and headless-guard with --client-ca-file: the API server is
// served, and every direct caller without that certificate is refused.
func TestClientCertificateAuthentication(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, "apiserver-webhook-client-ca")
	clientCert, clientKey := ca.issue(t, "kube-apiserver", x509.ExtKeyUsageClientAuth)
	intruderCert, intruderKey := ca.issue(t, "intruder", x509.ExtKeyUsageClientAuth)
	otherCert, otherKey := newTestCA(t, "someone-elses-ca").issue(t, "kube-apiserver", x509.ExtKeyUsageClientAuth)
	write := func(name string, data []byte) string {
		path := dir + "/" + name
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	caFile := write("client-ca.crt", ca.certPEM)
	webhookKubeconfig := write("webhook-kubeconfig", fmt.Appendf(nil, `apiVersion: v1
kind: Config
users:
- name: "*"
  user:
    client-certificate: %s
    client-key: %s
`, write("client.crt", clientCert), write("client.key", clientKey)))
	admissionConfig := write("admission.yaml", fmt.Appendf(nil, `apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
- name: ValidatingAdmissionWebhook
  configuration:
    apiVersion: apiserver.config.k8s.io/v1
    kind: WebhookAdmissionConfiguration
    kubeConfigFile: %[1]s
- name: MutatingAdmissionWebhook
  configuration:
    apiVersion: apiserver.config.k8s.io/v1
    kind: WebhookAdmissionConfiguration
    kubeConfigFile: %[1]s
`, webhookKubeconfig))
	c := cluster.Setup(t, cluster.Options{APIServerFlags: map[string]string{"admission-control-config-file": admissionConfig}})
	// StartGuard returns once the API server's calls get through.
	if _, err := c.StartGuard(t.Context(), "--client-ca-file", caFile, "--client-allowed-names", "kube-apiserver"); err != nil {
		t.Fatal(err)
	}
	ns := framework.Namespace(t, c, "mtls", nil)
	if _, stderr, err := framework.Kubectl(t, c, []byte(framework.StatefulSetYAML("web", "web", "")), "apply", "-n", ns, "-f", "-"); err == nil || !strings.Contains(stderr, "HG002") {
		t.Fatalf("through the API server: want the HG002 denial: %v\n%s", err, stderr)
	}

	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(c.WebhookPort()))
	body := review(t, ns, admissionv1.Create, stsKind, framework.StatefulSetYAML("web", "web", ""), "")
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c.WebhookCA())
	call := func(certPEM, keyPEM []byte) error {
		cfg := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
		if certPEM != nil {
			pair, err := tls.X509KeyPair(certPEM, keyPEM)
			if err != nil {
				t.Fatal(err)
			}
			cfg.Certificates = []tls.Certificate{pair}
		}
		hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
		resp, err := hc.Post("https://"+addr+"/validate/statefulsets", "application/json", bytes.NewReader(body))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("HTTP %s", resp.Status)
		}
		return nil
	}
	for name, tc := range map[string]struct{ cert, key []byte }{
		"no client certificate":                {},
		"a certificate of another CA":          {otherCert, otherKey},
		"the CA's certificate of another name": {intruderCert, intruderKey},
	} {
		if err := call(tc.cert, tc.key); err == nil {
			t.Errorf("%s: served, want the handshake refused", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
	// The control: the API server's certificate, presented directly.
	if err := call(clientCert, clientKey); err != nil {
		t.Errorf("with the API server's client certificate: %v", err)
	}
}

// testCA issues client certificates.
type testCA struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	certPEM []byte
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns a certificate and key (PEM) for commonName.
func (ca *testCA) issue(t *testing.T, commonName string, usage x509.ExtKeyUsage) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: commonName},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
}
