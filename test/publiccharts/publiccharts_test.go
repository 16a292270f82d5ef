package publiccharts

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/headless-guard/headless-guard/rules"
	"github.com/headless-guard/headless-guard/test/framework"
)

// publicCharts are the rendered public charts of internal/check (see
// internal/check/testdata/publiccharts/README.md) installed here, and the
// rule that denies each in the strict policy (and, for the broken copies,
// in the default policy too).
var publicCharts = []struct {
	file          string
	rule          string
	defaultDenies bool
}{
	{"argo-cd-default.yaml", rules.HG002, false},
	{"bitnami-thanos-components.yaml", rules.HG002, false},
	{"grafana-loki-distributed-compactor.yaml", rules.HG002, false},
	{"jenkins-default.yaml", rules.HG003, false},
	{"broken-zookeeper-3-clusterip.yaml", rules.HG003, true},
	{"broken-kafka-clusterip.yaml", rules.HG003, true},
}

// renderedNamespace matches the namespace the charts were rendered for.
var renderedNamespace = regexp.MustCompile(`(?m)^  namespace: "?default"?\n`)

// chartFor is a rendered chart as `helm template --namespace ns` would
// have made it: no `metadata.namespace` (kubectl's -n places the objects),
// and the in-cluster names of its configuration in ns.
func chartFor(t *testing.T, file, ns string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "internal", "check", "testdata", "publiccharts", file))
	if err != nil {
		t.Fatal(err)
	}
	out := renderedNamespace.ReplaceAllString(string(data), "")
	return []byte(strings.ReplaceAll(out, ".default.svc", "."+ns+".svc"))
}

// TestPublicChartsThroughKubectl installs rendered public charts with
// `kubectl apply -f` (helm's order: ConfigMaps and Services before
// StatefulSets) through the guard in its default policy, then in a
// namespace labelled for the strict one. The charts whose default install
// issue 20 names as denied are admitted with warnings that say why, and
// denied in the strict policy; a peer list behind a ClusterIP governing
// Service (in env, or in a ConfigMap the guard reads live) is denied in
// both.
func TestPublicChartsThroughKubectl(t *testing.T) {
	guardMu.Lock()
	defer guardMu.Unlock()
	c := guard(t)
	for _, chart := range publicCharts {
		t.Run(strings.TrimSuffix(chart.file, ".yaml"), func(t *testing.T) {
			for _, level := range []rules.Level{rules.LevelDefault, rules.LevelStrict} {
				ns := framework.Namespace(t, c, "public-"+string(level)+"-"+chart.file, map[string]string{rules.PolicyLabel: string(level)})
				out, stderr, err := framework.Kubectl(t, c, chartFor(t, chart.file, ns), "apply", "-n", ns, "-f", "-")
				denial := "(" + chart.rule + " "
				wantDenied := level == rules.LevelStrict || chart.defaultDenies
				switch {
				case wantDenied && (err == nil || !strings.Contains(stderr, denial)):
					t.Errorf("%s policy: want %s to deny\nerr %v\n%s%s", level, chart.rule, err, out, stderr)
				case !wantDenied && err != nil:
					t.Errorf("%s policy: want the chart admitted, got %v\n%s%s", level, err, out, stderr)
				case !wantDenied && !strings.Contains(stderr, "Warning: "+chart.rule+" spec.serviceName:") || !wantDenied && !strings.Contains(stderr, "(admitted: nothing in the pod template uses the per-pod names"):
					t.Errorf("%s policy: want a %s warning that says why the StatefulSet was admitted:\n%s", level, chart.rule, stderr)
				}
			}
		})
	}
}
