package resilience

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
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/headless-guard/headless-guard/certs"
	"github.com/headless-guard/headless-guard/test/framework"
)

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
	c := framework.OwnCluster(t)
	var replicas []*framework.Replica
	for i := range 3 {
		replicas = append(replicas, framework.StartReplica(t, c, fmt.Sprintf("replica-%d", i), framework.SelfManagedArgs(t)...))
	}
	for _, r := range replicas {
		r.WaitReady(t)
	}

	data := framework.SecretData(t, c)
	cas := pemCerts(t, data[certs.KeyCABundle])
	if len(cas) != 1 {
		t.Fatalf("the Secret holds %d CAs, want 1", len(cas))
	}
	bundle, err := framework.RegisteredCABundle(t.Context(), c.Client())
	if err != nil || !bytes.Equal(bundle, data[certs.KeyCABundle]) {
		t.Fatalf("the webhook configurations' caBundle is not the Secret's CA (%v)", err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cas[0])
	leaf := pemCerts(t, data[certs.KeyCert])[0]
	var logs string
	for _, r := range replicas {
		got, err := servedCertificate(r.WebhookAddr, roots)
		if err != nil {
			t.Errorf("%s: %v", r.LogPath, err)
		} else if !got.Equal(leaf) {
			t.Errorf("%s serves another certificate than the Secret's", r.LogPath)
		}
		logs += r.Logs()
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
	c := framework.OwnCluster(t)
	// It renews every few seconds: framework.StartGuard stops it before
	// its certificate directory is removed.
	g := framework.StartGuard(t, c, framework.SelfManagedArgs(t, "--cert-validity=8s", "--ca-validity=24s")...)
	ctx := t.Context()
	cl := c.Client()
	ns := framework.Namespace(t, c, "rotation", nil)
	framework.MustKubectl(t, c, []byte(framework.ServiceYAML("web", "")), "apply", "-n", ns, "-f", "-")

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
				if err := yaml.Unmarshal([]byte(framework.StatefulSetYAML("web", "web", "")), sts); err != nil {
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
			bundle, err := framework.RegisteredCABundle(ctx, cl)
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
		t.Errorf("metrics: want %q, got:\n%s", want, framework.GrepLines(string(body), "certificate_expiry"))
	}
}
