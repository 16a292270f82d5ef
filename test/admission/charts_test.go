package admission

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/headless-guard/headless-guard/internal/manifest"
	"github.com/headless-guard/headless-guard/rules"
	"github.com/headless-guard/headless-guard/test/framework"
)

// chartFixtures are the chart-shaped manifests of internal/check (see
// internal/check/charts_test.go for their offline verdicts).
const chartFixtures = "../../internal/check/testdata/charts"

// TestChartsThroughKubectl installs each chart-shaped fixture through the
// real kubectl and API server with headless-guard at its defaults, one
// object per call in helm's install order, and compares what kubectl
// prints with the rules' verdict for the same requests (replay). Two files
// cannot be replayed object by object, and are applied as one file instead,
// as `helm template | kubectl apply -f -` would:
//   - the apps/v1beta2 StatefulSet, which no API server serves any more;
//   - the long release name, whose two Services share one name, so the
//     second apply is an UPDATE of the first.
func TestChartsThroughKubectl(t *testing.T) {
	paths, _ := filepath.Glob(filepath.Join(chartFixtures, "*.yaml"))
	if len(paths) == 0 {
		t.Fatalf("no chart fixtures in %s", chartFixtures)
	}
	guardMu.Lock()
	defer guardMu.Unlock()
	c := guard(t)
	for _, path := range paths {
		name := strings.TrimSuffix(filepath.Base(path), ".yaml")
		t.Run(name, func(t *testing.T) {
			set, err := manifest.Load([]string{path}, manifest.Options{})
			if err != nil {
				t.Fatal(err)
			}
			untyped, names := false, map[string]bool{}
			twice := false
			for _, o := range set.Objects {
				untyped = untyped || o.Typed == nil
				key := o.Ref.Kind + "/" + o.Ref.Name
				twice = twice || names[key]
				names[key] = true
			}
			switch {
			case untyped:
				ns := framework.Namespace(t, c, "charts-"+name, nil)
				out, stderr, err := framework.Kubectl(t, c, fileIn(t, path), "apply", "-n", ns, "-f", "-")
				if err == nil || !strings.Contains(stderr, `no matches for kind "StatefulSet" in version "apps/v1beta2"`) {
					t.Fatalf("kubectl apply: err %v, want the API server to refuse apps/v1beta2\n%s%s", err, out, stderr)
				}
				if seen := seen(stderr); len(seen) != 0 {
					t.Errorf("findings for objects the API server does not serve: %v", seen)
				}
			case twice:
				longReleaseName(t, path, name)
			default:
				replay(t, c, "charts", path, rules.Policy{}, true)
			}
		})
	}
}

// longReleaseName applies the long-release-name chart as one file. The
// second Service of the shared name is an UPDATE of the first, and the API
// server keeps the first one's `clusterIP: None` when the update leaves the
// field out, so through kubectl the Service stays headless (the offline
// checker, reading the file, takes the last definition and also reports
// HG003). What both front ends deny is the StatefulSet name: HG007.
func longReleaseName(t *testing.T, path, name string) {
	c := guard(t)
	ns := framework.Namespace(t, c, "charts-"+name, nil)
	out, stderr, err := framework.Kubectl(t, c, fileIn(t, path), "apply", "-n", ns, "-f", "-")
	if err == nil {
		t.Fatalf("kubectl apply: admitted, want a denial\n%s%s", out, stderr)
	}
	want := []string{"HG007 deny metadata.name", "HG007 deny metadata.name"}
	got := seen(stderr)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("kubectl shows %q, want %q\n%s%s", got, want, out, stderr)
	}
	if !strings.Contains(out, "service/payments-ledger-reconciliation-eu-west-1-production-postgresql created") ||
		!strings.Contains(out, "service/payments-ledger-reconciliation-eu-west-1-production-postgresql configured") {
		t.Errorf("want the Service created, then configured by the second definition:\n%s", out)
	}
}

// fileIn is a fixture's bytes with `namespace: "default"` dropped, so that
// kubectl's -n places the objects.
func fileIn(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return []byte(strings.ReplaceAll(string(data), "  namespace: \"default\"\n", ""))
}

// TestHelmHookPodInTheGuardsCache checks the HG008 exemption of helm hook
// Pods where timing cannot decide it: the Pods come from the guard's
// informer cache, through its transform. After the alertmanager chart and
// its test Pod, a stray Pod with the same labels is created; a dry-run
// update of the StatefulSet, repeated until the cache has the stray Pod
// (and so the test Pod created before it), must name the stray Pod in
// HG008 and never the test Pod.
func TestHelmHookPodInTheGuardsCache(t *testing.T) {
	guardMu.Lock()
	defer guardMu.Unlock()
	c := guard(t)
	ns := framework.Namespace(t, c, "charts-helm-hook-cache", nil)
	framework.MustKubectl(t, c, fileIn(t, filepath.Join(chartFixtures, "alertmanager-helm-test-pod.yaml")), "apply", "-n", ns, "-f", "-")
	const stray = `apiVersion: v1
kind: Pod
metadata:
  name: alertmanager-debug
  labels:
    app.kubernetes.io/name: alertmanager
    app.kubernetes.io/instance: alertmanager
spec:
  containers:
  - name: shell
    image: busybox
`
	framework.MustKubectl(t, c, []byte(stray), "apply", "-n", ns, "-f", "-")
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, stderr, err := framework.Kubectl(t, c, nil, "label", "statefulset", "alertmanager", "probe=hg008", "--dry-run=server", "-n", ns)
		if err != nil {
			t.Fatalf("kubectl label --dry-run=server: %v\n%s", err, stderr)
		}
		if strings.Contains(stderr, "alertmanager-test-connection") {
			t.Fatalf("HG008 names the helm test Pod:\n%s", stderr)
		}
		if strings.Contains(stderr, "HG008") && strings.Contains(stderr, "Pod "+ns+"/alertmanager-debug") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no HG008 warning naming the stray Pod within 30s; last:\n%s", stderr)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
