package check

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/headless-guard/headless-guard/rules"
)

const kubectlRoot = "testdata/kubectl"

// TestReadsAsKubectl: manifests are checked as kubectl applies them, and
// what the rules cannot see is a notice (issue 12's acceptance).
func TestReadsAsKubectl(t *testing.T) {
	reg := rules.Default()
	hg009 := rules.Policy{}
	if err := hg009.SetOverride(reg, "HG009=deny"); err != nil {
		t.Fatal(err)
	}
	at := func(file string) string { return filepath.Join(kubectlRoot, file) }
	cases := []struct {
		name     string
		paths    []string
		policy   rules.Policy
		findings []string // rule action object
		notices  []string // reason object file:line -> related
	}{
		{"two metadata keys: the last one names the Service, with a warning",
			[]string{at("etcd-duplicate-metadata.yaml")}, rules.Policy{},
			nil,
			[]string{"duplicate-key Service default/etcd " + at("etcd-duplicate-metadata.yaml") + ":11 -> [" + at("etcd-duplicate-metadata.yaml") + ":8]"}},
		{"publishNotReadyAddresses: yes is true (HG009 on, quiet)",
			[]string{at("publish-not-ready-yes.yaml")}, hg009,
			nil, nil},
		{"a Service defined twice: the verdict follows the one applied last",
			[]string{at("duplicate-service")}, rules.Policy{Level: rules.LevelStrict},
			[]string{"HG003 deny StatefulSet default/db"},
			[]string{"duplicate-object Service default/db " + at("duplicate-service/a-release.yaml") + ":5 -> [" + at("duplicate-service/b-override.yaml") + ":2]"}},
		{"the same two files the other way round: headless last, clean",
			[]string{at("duplicate-service/b-override.yaml"), at("duplicate-service/a-release.yaml")}, rules.Policy{},
			nil,
			[]string{"duplicate-object Service default/db " + at("duplicate-service/b-override.yaml") + ":2 -> [" + at("duplicate-service/a-release.yaml") + ":5]"}},
		{"an apps/v1beta2 StatefulSet is not checked, and says so",
			[]string{filepath.Join(chartRoot, "memcached-apps-v1beta2.yaml")}, rules.Policy{},
			nil,
			[]string{"not-checked StatefulSet cache-memcached " + filepath.Join(chartRoot, "memcached-apps-v1beta2.yaml") + ":28 -> []"}},
		{"unserved versions and unevaluated kinds; generateName is no duplicate",
			[]string{at("unserved-versions.yaml")}, rules.Policy{},
			nil,
			[]string{
				"not-checked Deployment web " + at("unserved-versions.yaml") + ":3 -> []",
				"not-checked CronJob backup " + at("unserved-versions.yaml") + ":17 -> []",
				"not-checked ReplicationController legacy " + at("unserved-versions.yaml") + ":32 -> []",
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// One apply of all paths: the cases are about what it makes of them.
			res, err := Run(Options{Paths: tc.paths, Registry: reg, Policy: tc.policy, Scope: ScopeAll})
			if err != nil {
				t.Fatal(err)
			}
			var findings, notices []string
			for _, f := range res.Report.Findings {
				findings = append(findings, fmt.Sprintf("%s %s %s", f.Rule.ID, f.Action, f.Object.Kind+" "+f.Object.Namespace+"/"+f.Object.Name))
			}
			for _, n := range res.Report.Notices {
				var related []string
				for _, l := range n.Related {
					related = append(related, fmt.Sprintf("%s:%d", l.File, l.Line))
				}
				notices = append(notices, fmt.Sprintf("%s %s %s:%d -> %v", n.Reason, n.Object, n.File, n.Line, related))
				if n.Message == "" {
					t.Errorf("%s notice without a message", n.Reason)
				}
			}
			if diff := cmp.Diff(tc.findings, findings); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.notices, notices); diff != "" {
				t.Errorf("notices (-want +got):\n%s", diff)
			}
			// Notices never change the exit status: deny counts findings only.
			if s := res.Report.Summarize(); s.Notices != len(tc.notices) {
				t.Errorf("summary counts %d notices, want %d", s.Notices, len(tc.notices))
			}
		})
	}
}
