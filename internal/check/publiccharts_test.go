package check

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/headless-guard/headless-guard/rules"
)

// publicChartRoot holds public charts as `helm template` renders them,
// and broken copies of a few (see its README.md).
const publicChartRoot = "testdata/publiccharts"

// publicChartVerdicts are issue 20's acceptance criteria for each file:
// the rules that deny in the default policy, the rules that deny in the
// strict policy, and how many HG013 findings (per-pod names that match no
// pod) it has. The charts whose default install issue 20 names as denied
// before are admitted with warnings in the default policy and denied in
// the strict one; a per-pod name list behind a ClusterIP governing Service
// is denied in both.
var publicChartVerdicts = map[string]struct {
	defaultDeny, strictDeny []string
	hg013                   int
}{
	"argo-cd-default.yaml":                    {strictDeny: []string{rules.HG002}},
	"bitnami-airflow-default.yaml":            {strictDeny: []string{rules.HG003}},
	"bitnami-cassandra-default.yaml":          {},
	"bitnami-etcd-3.yaml":                     {},
	"bitnami-etcd-default.yaml":               {},
	"bitnami-grafana-loki-default.yaml":       {strictDeny: []string{rules.HG003}},
	"bitnami-grafana-mimir-default.yaml":      {strictDeny: []string{rules.HG003}},
	"bitnami-kafka-default.yaml":              {},
	"bitnami-memcached-default.yaml":          {},
	"bitnami-memcached-ha.yaml":               {strictDeny: []string{rules.HG003}},
	"bitnami-mongodb-default.yaml":            {},
	"bitnami-mongodb-replicaset.yaml":         {},
	"bitnami-rabbitmq-default.yaml":           {},
	"bitnami-redis-default.yaml":              {},
	"bitnami-thanos-components.yaml":          {strictDeny: []string{rules.HG002}},
	"bitnami-thanos-default.yaml":             {},
	"bitnami-zookeeper-3.yaml":                {},
	"bitnami-zookeeper-default.yaml":          {},
	"grafana-loki-distributed-compactor.yaml": {strictDeny: []string{rules.HG002}},
	"grafana-tempo-distributed-default.yaml":  {strictDeny: []string{rules.HG002}},
	"jenkins-default.yaml":                    {strictDeny: []string{rules.HG003}},
	"broken-zookeeper-3-clusterip.yaml":       {defaultDeny: []string{rules.HG003}, strictDeny: []string{rules.HG003}},
	"broken-kafka-clusterip.yaml":             {defaultDeny: []string{rules.HG003}, strictDeny: []string{rules.HG003}},
	"broken-zookeeper-3-wrong-service.yaml":   {hg013: 3},
	"broken-zookeeper-3-ordinal.yaml":         {hg013: 1},
	"broken-etcd-3-wrong-namespace.yaml":      {hg013: 3},
	"broken-etcd-3-renamed.yaml":              {hg013: 3},
}

func TestPublicCharts(t *testing.T) {
	paths, _ := filepath.Glob(filepath.Join(publicChartRoot, "*.yaml"))
	if len(paths) != len(publicChartVerdicts) {
		t.Fatalf("%d files in %s, %d verdicts in publicChartVerdicts: keep them in step", len(paths), publicChartRoot, len(publicChartVerdicts))
	}
	for _, path := range paths {
		base := filepath.Base(path)
		t.Run(strings.TrimSuffix(base, ".yaml"), func(t *testing.T) {
			want, ok := publicChartVerdicts[base]
			if !ok {
				t.Fatalf("%s has no entry in publicChartVerdicts", base)
			}
			for _, level := range []rules.Level{rules.LevelDefault, rules.LevelStrict} {
				res, err := Run(Options{Paths: []string{path}, Policy: rules.Policy{Level: level}})
				if err != nil {
					t.Fatal(err)
				}
				var denied []string
				hg013 := 0
				for _, f := range res.Report.Findings {
					if f.Action == rules.ActionDeny && !slices.Contains(denied, f.Rule.ID) {
						denied = append(denied, f.Rule.ID)
					}
					if f.Rule.ID == rules.HG013 {
						hg013++
					}
				}
				slices.Sort(denied)
				wantDenied := want.defaultDeny
				if level == rules.LevelStrict {
					wantDenied = want.strictDeny
				}
				if diff := cmp.Diff(wantDenied, denied, cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("%s policy: denied rules (-want +got):\n%s", level, diff)
				}
				if hg013 != want.hg013 {
					t.Errorf("%s policy: %d HG013 findings, want %d", level, hg013, want.hg013)
				}
				// Every denial of the default policy is one a person can act
				// on with the proof in hand: it names the per-pod name the
				// configuration uses and where.
				for _, f := range res.Report.Findings {
					if level == rules.LevelDefault && f.Action == rules.ActionDeny && f.Rule.ID == rules.HG003 && !strings.Contains(f.Message(), "uses the per-pod name") {
						t.Errorf("default-policy HG003 denial without its evidence: %s", f.Message())
					}
				}
			}
		})
	}
}

// TestPublicChartsEvidenceInConfigMaps: the Kafka chart lists its
// controllers in a ConfigMap it mounts, not in env: the detector reads the
// ConfigMaps the pod template references.
func TestPublicChartsEvidenceInConfigMaps(t *testing.T) {
	res, err := Run(Options{Paths: []string{filepath.Join(publicChartRoot, "broken-kafka-clusterip.yaml")}})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range res.Report.Findings {
		if f.Rule.ID == rules.HG003 {
			if !strings.Contains(f.Message(), "of ConfigMap `kafka-controller-configuration`") {
				t.Errorf("HG003 does not name the ConfigMap that uses the names: %s", f.Message())
			}
			return
		}
	}
	t.Fatal("no HG003 finding")
}
