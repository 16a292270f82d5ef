package test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/headless-guard/headless-guard/rules"
	"github.com/headless-guard/headless-guard/test/cluster"
)

// publicChart is a public chart rendered into testdata/charts20 (the
// header of each file says how) whose StatefulSet works although its pods
// have no per-pod DNS names: nothing in it looks them up.
type publicChart struct {
	file, statefulSet, rule string
}

var publicCharts = []publicChart{
	{"argo-cd.yaml", "argocd-application-controller", "HG002"},
	{"thanos.yaml", "thanos-storegateway", "HG002"},
	{"loki.yaml", "logs-loki", "HG002"},
	{"jenkins.yaml", "jenkins", "HG003"},
}

// chartNamespace creates the namespace a chart was rendered for
// (charts20-<file name>), whose name its objects carry.
func chartNamespace(t *testing.T, c *cluster.Cluster, file string) string {
	t.Helper()
	ns := "charts20-" + strings.TrimSuffix(file, ".yaml")
	if _, stderr, err := kubectl(t, c, nil, "create", "namespace", ns); err != nil && !strings.Contains(stderr, "AlreadyExists") {
		t.Fatalf("creating namespace %s: %v\n%s", ns, err, stderr)
	}
	return ns
}

func chartFile(t *testing.T, file string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "charts20", file))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestPublicChartsThroughTheWebhook: issue 20's public charts, applied as
// `helm template | kubectl apply -f -` would, install in the default
// policy with the warning, and their StatefulSets are reported after the
// grace period; in the strict policy (namespace label, then flag) their
// StatefulSets are denied. A chart whose peer list names the per-pod names
// behind a ClusterIP governing Service is denied in the default policy,
// and the same chart unbroken installs without a finding.
func TestPublicChartsThroughTheWebhook(t *testing.T) {
	guardMu.Lock()
	defer guardMu.Unlock()
	c := guard(t, operatorArgs...)
	installCRDs(t, c)

	installed := map[string]bool{}
	for _, ch := range publicCharts {
		t.Run("default/"+ch.file, func(t *testing.T) {
			ns := chartNamespace(t, c, ch.file)
			start := time.Now()
			out, stderr, err := kubectl(t, c, chartFile(t, ch.file), "apply", "-n", ns, "-f", "-")
			if err != nil || !strings.Contains(out, "statefulset.apps/"+ch.statefulSet+" created") {
				t.Fatalf("the chart must install: %v\n%s%s", err, out, stderr)
			}
			if !strings.Contains(stderr, "Warning: "+ch.rule) {
				t.Errorf("no %s warning from kubectl:\n%s", ch.rule, stderr)
			}
			installed[ch.file] = true
			eventually(t, 30*time.Second, ch.statefulSet+" reported", func() (bool, string) {
				events, report := auditEvents(t, c, ns, "StatefulSet", ch.statefulSet), reportSubjects(t, c, ns)
				return strings.Contains(events, ch.rule+" ") && strings.Contains(report, "StatefulSet/"+ch.statefulSet+" "+ch.rule),
					fmt.Sprintf("Events %q, Report %q", events, report)
			})
			if waited := time.Since(start); waited < operatorGrace {
				t.Errorf("reported %v after the apply began, before the grace period", waited)
			}
		})
	}

	// strict applies the charts again, their StatefulSets deleted first,
	// and wants each StatefulSet denied by its rule.
	strict := func(t *testing.T) {
		for _, ch := range publicCharts {
			if !installed[ch.file] {
				continue
			}
			t.Run(ch.file, func(t *testing.T) {
				ns := "charts20-" + strings.TrimSuffix(ch.file, ".yaml")
				mustKubectl(t, c, nil, "delete", "statefulset", ch.statefulSet, "-n", ns)
				_, stderr, err := kubectl(t, c, chartFile(t, ch.file), "apply", "-n", ns, "-f", "-")
				want := fmt.Sprintf("The StatefulSet %q is invalid", ch.statefulSet)
				if err == nil || !strings.Contains(stderr, want) || !strings.Contains(stderr, "("+ch.rule+" ") {
					t.Errorf("want %s ... (%s ...): %v\n%s", want, ch.rule, err, stderr)
				}
			})
		}
	}
	t.Run("strict by namespace label", func(t *testing.T) {
		for _, ch := range publicCharts {
			if installed[ch.file] {
				mustKubectl(t, c, nil, "label", "namespace", "charts20-"+strings.TrimSuffix(ch.file, ".yaml"), rules.PolicyLabel+"="+string(rules.LevelStrict))
			}
		}
		strict(t)
	})
	t.Run("strict by flag", func(t *testing.T) {
		for _, ch := range publicCharts {
			if installed[ch.file] {
				ns := "charts20-" + strings.TrimSuffix(ch.file, ".yaml")
				mustKubectl(t, c, nil, "label", "namespace", ns, rules.PolicyLabel+"-")
				// Recreated, so that strict has one to delete.
				if _, stderr, err := kubectl(t, c, chartFile(t, ch.file), "apply", "-n", ns, "-f", "-"); err != nil {
					t.Fatalf("%s in the default policy again: %v\n%s", ch.file, err, stderr)
				}
			}
		}
		guard(t, append(operatorArgs, "--policy=strict")...)
		strict(t)
	})

	t.Run("peer names behind a ClusterIP Service", func(t *testing.T) {
		c := guard(t, operatorArgs...)
		ns := chartNamespace(t, c, "zookeeper.yaml")
		out, stderr, err := kubectl(t, c, chartFile(t, "zookeeper.yaml"), "apply", "-n", ns, "-f", "-")
		if err != nil || len(seen(stderr)) != 0 {
			t.Fatalf("the unbroken chart must install without a finding: %v\n%s%s", err, out, stderr)
		}
		mustKubectl(t, c, nil, "delete", "statefulset,service", "--all", "-n", ns)
		_, stderr, err = kubectl(t, c, chartFile(t, "zookeeper-clusterip-peers.yaml"), "apply", "-n", ns, "-f", "-")
		if err == nil || !strings.Contains(stderr, `The StatefulSet "zk-zookeeper" is invalid`) || !strings.Contains(stderr, "(HG003 ") {
			t.Errorf("want the StatefulSet denied by HG003: %v\n%s", err, stderr)
		}
	})
}
