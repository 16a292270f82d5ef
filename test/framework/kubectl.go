package framework

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/headless-guard/headless-guard/test/cluster"
)

// TestAuditGrace is the audit's grace period in the tests that are not
// about it (2m by default).
const TestAuditGrace = "--audit-grace-period=1s"

// Kubectl runs the cluster's kubectl with stdin and args, for at most a
// minute, and returns its stdout and stderr.
func Kubectl(t *testing.T, c *cluster.Cluster, stdin []byte, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return c.Kubectl(ctx, stdin, args...)
}

// MustKubectl is Kubectl that fails the test when kubectl fails.
func MustKubectl(t *testing.T, c *cluster.Cluster, stdin []byte, args ...string) string {
	t.Helper()
	out, errOut, err := Kubectl(t, c, stdin, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, errOut)
	}
	return out
}

var nsCounter int

// Namespace creates a fresh namespace with the given labels.
func Namespace(t *testing.T, c *cluster.Cluster, prefix string, labels map[string]string) string {
	t.Helper()
	nsCounter++
	name := fmt.Sprintf("%s-%d", strings.Trim(DNSName(prefix), "-"), nsCounter)
	if len(name) > 63 {
		name = strings.Trim(name[len(name)-63:], "-")
	}
	ns := &corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"}, ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	data, _ := json.Marshal(ns)
	MustKubectl(t, c, data, "create", "-f", "-")
	return name
}

var nonDNS = regexp.MustCompile(`[^a-z0-9-]+`)

// DNSName is s in lower case with every run of characters a DNS label
// cannot hold replaced by a dash.
func DNSName(s string) string { return nonDNS.ReplaceAllString(strings.ToLower(s), "-") }

// WaitEstablished waits up to a minute for the named CustomResourceDefinitions
// (crd/<name>) to be Established. kubectl wait alone fails at once, instead
// of waiting, when a CRD it reads has no status.conditions yet (".status.
// conditions accessor error: <nil>"), which a busy API server leaves so for
// a moment after the create.
func WaitEstablished(t *testing.T, c *cluster.Cluster, crds ...string) {
	t.Helper()
	args := append([]string{"wait", "--for=condition=Established", "--timeout=60s"}, crds...)
	Eventually(t, time.Minute, "CRDs "+strings.Join(crds, ", ")+" established", func() (bool, string) {
		_, errOut, err := Kubectl(t, c, nil, args...)
		return err == nil, errOut
	})
}
