package check

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/headless-guard/headless-guard/internal/report"
	"github.com/headless-guard/headless-guard/rules"
)

// chartRoot holds manifests shaped like popular public charts render them
// (see each file's header): the layouts behind issue 12's false denials and
// warnings. Each file's `# expect:` lines list every finding of every rule
// at default actions, as TestSeedFixtures reads seeds; test/ replays the
// same files through the webhook.
const chartRoot = "testdata/charts"

// chartVerdicts are issue 12's acceptance criteria, stated apart from the
// expect lines so that editing a fixture's expectations cannot quietly
// drop them: for each file, the rules that must deny (none: the default
// install is admitted), whether HG008 must stay quiet, and the notices
// (what no rule reports) as "<reason> <Kind>/<name>".
var chartVerdicts = map[string]struct {
	deny       []string
	quietHG008 bool
	notices    []string
}{
	"alertmanager-helm-test-pod.yaml": {quietHG008: true},
	"memcached-apps-v1beta2.yaml":     {quietHG008: true, notices: []string{report.NoticeNotChecked + " StatefulSet/cache-memcached"}},
	"postgresql-long-release-name.yaml": {
		deny:    []string{"HG007"},
		notices: []string{report.NoticeDuplicateObject + " Service/payments-ledger-reconciliation-eu-west-1-production-postgresql"},
	},
	"postgresql-replication-hl.yaml":         {quietHG008: true},
	"redis-replication-shared-headless.yaml": {quietHG008: true},
	"zookeeper-optional-tls-port.yaml":       {quietHG008: true},
}

func TestChartFixtures(t *testing.T) {
	paths, _ := filepath.Glob(filepath.Join(chartRoot, "*.yaml"))
	if len(paths) != len(chartVerdicts) {
		t.Fatalf("%d chart fixtures in %s, %d verdicts in chartVerdicts: keep them in step", len(paths), chartRoot, len(chartVerdicts))
	}
	for _, path := range paths {
		base := filepath.Base(path)
		t.Run(strings.TrimSuffix(base, ".yaml"), func(t *testing.T) {
			verdict, ok := chartVerdicts[base]
			if !ok {
				t.Fatalf("%s has no entry in chartVerdicts", base)
			}
			// Every object as admission sees it, cross-checked with the
			// offline checker (fixtureFindings).
			got := fixtureFindings(t, path, rules.Policy{}, "")
			if diff := cmp.Diff(expectations(t, path), got); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
			var denied []string
			for _, line := range got {
				f := strings.Fields(line)
				if f[1] == string(rules.ActionDeny) && !slices.Contains(denied, f[0]) {
					denied = append(denied, f[0])
				}
				if verdict.quietHG008 && f[0] == "HG008" {
					t.Errorf("HG008 must stay quiet on this layout: %s", line)
				}
			}
			slices.Sort(denied)
			if !slices.Equal(denied, verdict.deny) {
				t.Errorf("denied by %v, want %v", denied, verdict.deny)
			}

			// The checker's exit status says the same: 1 exactly when denied.
			res, err := Run(Options{Paths: []string{path}})
			if err != nil {
				t.Fatal(err)
			}
			offlineDenied := false
			for _, f := range res.Report.Findings {
				offlineDenied = offlineDenied || f.Action == rules.ActionDeny
			}
			if offlineDenied != (len(verdict.deny) > 0) {
				t.Errorf("check denies: %v, want %v", offlineDenied, len(verdict.deny) > 0)
			}
			var notices []string
			for _, n := range res.Report.Notices {
				notices = append(notices, n.Reason+" "+n.Object.Kind+"/"+n.Object.Name)
			}
			if diff := cmp.Diff(verdict.notices, notices, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("notices (-want +got):\n%s", diff)
			}
		})
	}
}
