package publiccharts

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/headless-guard/headless-guard/rules"
	"github.com/headless-guard/headless-guard/test/cluster"
	"github.com/headless-guard/headless-guard/test/framework"
)

// The public charts rendered for issue 20: internal/check's (their README
// gives each one's verdict before and after the issue) and this package's.
var publicChartDirs = []string{"../../internal/check/testdata/publiccharts", "testdata/charts20"}

// chartVerdicts are what issue 20 requires of some of them, on top of the
// webhook agreeing with the offline checker: installed with a warning and
// reported (the software works without per-pod names), or denied in the
// default policy (its peer list uses names that cannot resolve). In the
// strict policy every one of them is denied.
var chartVerdicts = map[string]string{
	"argo-cd-default":                         "reported HG002",
	"bitnami-thanos-components":               "reported HG002",
	"grafana-loki-distributed-compactor":      "reported HG002",
	"grafana-loki-single-binary-release-logs": "reported HG002",
	"jenkins-default":                         "reported HG003",
	"broken-zookeeper-3-clusterip":            "denied HG003",
	"broken-kafka-clusterip":                  "denied HG003",
}

var (
	defaultNamespaceLine = regexp.MustCompile(`(?m)^(\s*)namespace: "?default"?[ \t]*$`)
	defaultNamespaceDNS  = regexp.MustCompile(`\.default\.svc\b`)
)

// inNamespace is a chart rendered with `--namespace default` as if it had
// been rendered with `--namespace ns`: its objects' namespace and the
// cluster DNS names it writes into its configuration.
func inNamespace(data []byte, ns string) []byte {
	data = defaultNamespaceLine.ReplaceAll(data, []byte("${1}namespace: "+ns))
	return defaultNamespaceDNS.ReplaceAll(data, []byte("."+ns+".svc"))
}

// offlineFinding is one finding of `headless-guard check -o json`.
type offlineFinding struct {
	Rule     string `json:"rule"`
	Severity string `json:"severity"`
	Object   struct {
		Kind string `json:"kind"`
		Name string `json:"name"`
	} `json:"object"`
}

func (f offlineFinding) subject() string { return f.Object.Kind + "/" + f.Object.Name }

// offline is what `headless-guard check` says of data in ns with policy.
func offline(t *testing.T, data []byte, ns string, policy rules.Level) []offlineFinding {
	t.Helper()
	r := framework.Run(t, data, "check", "-n", ns, "--policy", string(policy), "-o", "json", "-")
	if r.Code > 1 {
		t.Fatalf("headless-guard check: exit %d\n%s", r.Code, r.Stderr)
	}
	var out struct {
		Findings []offlineFinding `json:"findings"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &out); err != nil {
		t.Fatalf("headless-guard check -o json: %v\n%s", err, r.Stdout)
	}
	return out.Findings
}

// denied is the objects with a deny-level finding, sorted.
func denied(findings []offlineFinding) []string {
	var out []string
	for _, f := range findings {
		if f.Severity == "deny" && !slices.Contains(out, f.subject()) {
			out = append(out, f.subject())
		}
	}
	sort.Strings(out)
	return out
}

// installedChart is a chart applied in a namespace of its own.
type installedChart struct {
	name, ns string
	data     []byte
	// reported is what the audit must report once the grace period is
	// over: "Kind/name RULE" per finding of an admitted object.
	reported []string
}

// applyChart applies data in ns as `helm template | kubectl apply -f -`
// would, and checks that exactly the objects offline denies are denied.
func applyChart(t *testing.T, c *cluster.Cluster, data []byte, ns string, findings []offlineFinding) {
	t.Helper()
	out, stderr, err := framework.Kubectl(t, c, data, "apply", "-n", ns, "-f", "-")
	want := denied(findings)
	var got []string
	for _, m := range invalidObject.FindAllStringSubmatch(stderr, -1) {
		if kind := m[1] + m[2]; !slices.Contains(got, kind+"/"+m[3]) {
			got = append(got, kind+"/"+m[3])
		}
	}
	sort.Strings(got)
	if !slices.Equal(got, want) || (err != nil) != (len(want) > 0) {
		t.Errorf("kubectl apply denied %v (error %v), the offline checker denies %v\n%s%s", got, err, want, out, stderr)
	}
}

// invalidObject is a denial as kubectl prints it: `The StatefulSet "web"
// is invalid` for one error, `StatefulSet.apps "web" is invalid` in each
// "Error from server" line of several.
var invalidObject = regexp.MustCompile(`(?:The (\w+)|(\w+)\.[\w.]+) "([^"]+)" is invalid`)

// TestPublicChartsThroughTheWebhook applies every rendered public chart
// through the webhook, each in a namespace of its own, as `helm template |
// kubectl apply -f -` would: in the default policy, then in the strict one
// (namespace label; then --policy=strict for issue 20's named charts). Each time exactly the objects
// the offline checker denies with that policy are denied; in the default
// policy the findings of the admitted objects are reported after the grace
// period, in each namespace's Report, and issue 20's verdicts hold
// (chartVerdicts).
func TestPublicChartsThroughTheWebhook(t *testing.T) {
	guardMu.Lock()
	defer guardMu.Unlock()
	c := guard(t, framework.OperatorArgs...)
	framework.InstallCRDs(t, c)
	var paths []string
	for _, dir := range publicChartDirs {
		p, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
		paths = append(paths, p...)
	}
	if len(paths) < 20 {
		t.Fatalf("%d rendered charts in %v: the fixtures are missing", len(paths), publicChartDirs)
	}
	var charts []*installedChart
	applied := time.Now()
	t.Run("default", func(t *testing.T) {
		for _, path := range paths {
			name := strings.TrimSuffix(filepath.Base(path), ".yaml")
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			ns := framework.Namespace(t, c, "chart-"+name, nil)
			ch := &installedChart{name: name, ns: ns, data: inNamespace(raw, ns)}
			charts = append(charts, ch)
			t.Run(name, func(t *testing.T) {
				findings := offline(t, ch.data, ns, rules.LevelDefault)
				applyChart(t, c, ch.data, ns, findings)
				deniedObjects := denied(findings)
				for _, f := range findings {
					if f.Object.Kind != rules.KindService && !slices.Contains(deniedObjects, f.subject()) {
						ch.reported = append(ch.reported, f.subject()+" "+f.Rule)
					}
				}
				sort.Strings(ch.reported)
				switch v := chartVerdicts[name]; {
				case strings.HasPrefix(v, "denied "):
					if rule := strings.TrimPrefix(v, "denied "); !slices.ContainsFunc(findings, func(f offlineFinding) bool { return f.Rule == rule && f.Severity == "deny" }) {
						t.Errorf("issue 20: %s must be denied by %s in the default policy: %v", name, rule, findings)
					}
				case strings.HasPrefix(v, "reported "):
					rule := strings.TrimPrefix(v, "reported ")
					if len(deniedObjects) > 0 || !slices.ContainsFunc(ch.reported, func(s string) bool { return strings.HasSuffix(s, " "+rule) }) {
						t.Errorf("issue 20: %s must install with %s reported in the default policy; denied %v, reported %v", name, rule, deniedObjects, ch.reported)
					}
				}
			})
		}
	})
	t.Logf("%d charts applied in %v", len(charts), time.Since(applied).Round(100*time.Millisecond))

	t.Run("reported", func(t *testing.T) {
		time.Sleep(time.Until(applied.Add(framework.OperatorGrace)))
		for _, ch := range charts {
			t.Run(ch.name, func(t *testing.T) {
				want := strings.Join(ch.reported, "\n")
				framework.Eventually(t, 30*time.Second, "the Report holding the findings of the admitted objects", func() (bool, string) {
					lines := strings.Split(strings.TrimSpace(framework.ReportSubjects(t, c, ch.ns)), "\n")
					sort.Strings(lines)
					got := strings.TrimSpace(strings.Join(lines, "\n"))
					return got == want, fmt.Sprintf("Report:\n%s\nwant:\n%s", got, want)
				})
			})
		}
	})

	// strict applies the charts again, their StatefulSets deleted first.
	strict := func(t *testing.T, charts []*installedChart) {
		for _, ch := range charts {
			t.Run(ch.name, func(t *testing.T) {
				framework.MustKubectl(t, c, nil, "delete", "statefulsets", "--all", "-n", ch.ns)
				findings := offline(t, ch.data, ch.ns, rules.LevelStrict)
				applyChart(t, c, ch.data, ch.ns, findings)
				if _, named := chartVerdicts[ch.name]; named && len(denied(findings)) == 0 {
					t.Errorf("issue 20: %s must be denied in the strict policy", ch.name)
				}
			})
		}
	}
	t.Run("strict by namespace label", func(t *testing.T) {
		for _, ch := range charts {
			framework.MustKubectl(t, c, nil, "label", "namespace", ch.ns, rules.PolicyLabel+"="+string(rules.LevelStrict))
		}
		strict(t, charts)
	})
	// The flag is the same policy reached another way: issue 20's named
	// charts prove it, every chart again would only cost time.
	t.Run("strict by flag", func(t *testing.T) {
		var named []*installedChart
		for _, ch := range charts {
			if _, ok := chartVerdicts[ch.name]; ok {
				framework.MustKubectl(t, c, nil, "label", "namespace", ch.ns, rules.PolicyLabel+"-")
				named = append(named, ch)
			}
		}
		if len(named) < 4 {
			t.Fatalf("%d of issue 20's named charts were applied", len(named))
		}
		guard(t, append(framework.OperatorArgs, "--policy=strict")...)
		strict(t, named)
	})
}
