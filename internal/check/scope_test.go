package check

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/headless-guard/headless-guard/internal/manifest"
)

func TestUnitKey(t *testing.T) {
	plain := manifest.Source{Path: "envs/dev/app.yaml", Input: 0}
	inChart := manifest.Source{Path: "charts/db/crds/x.yaml", Input: 1, Unit: "charts/db"}
	stdin := manifest.Source{Path: manifest.StdinName, Input: 2}
	cases := []struct {
		scope Scope
		want  []string
	}{
		{ScopePath, []string{"input 0", "charts/db", "input 2"}},
		{ScopeDir, []string{"envs/dev", "charts/db", "input 2"}},
		{ScopeFile, []string{"envs/dev/app.yaml", "charts/db/crds/x.yaml", "input 2"}},
		{ScopeAll, []string{"", "", ""}},
	}
	for _, tc := range cases {
		var got []string
		for _, src := range []manifest.Source{plain, inChart, stdin} {
			got = append(got, unitKey(tc.scope, src))
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("--scope %s (-want +got):\n%s", tc.scope, diff)
		}
	}
	if _, err := ParseScope("files"); err == nil || !strings.Contains(err.Error(), "must be one of path, dir, file, all") {
		t.Errorf("ParseScope(files) = %v", err)
	}
}

// TestScopesNeverShare: a StatefulSet is checked against its own scope's
// Services only, and --fix injects its own Service.
func TestScopesNeverShare(t *testing.T) {
	root := t.TempDir()
	sts := "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: web}\nspec:\n  serviceName: web\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: web, image: nginx}]}\n"
	svc := "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {clusterIP: None, selector: {app: web}}\n"
	for rel, data := range map[string]string{"dev/app.yaml": sts, "dev/svc.yaml": svc, "prod/app.yaml": sts} {
		os.MkdirAll(filepath.Join(root, filepath.Dir(rel)), 0o755)
		os.WriteFile(filepath.Join(root, rel), []byte(data), 0o644)
	}
	dev, prod := filepath.Join(root, "dev"), filepath.Join(root, "prod")
	res, err := Run(Options{Paths: []string{dev, prod}, fixing: true})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range res.Report.Findings {
		rel, _ := filepath.Rel(root, f.File)
		got = append(got, f.Rule.ID+" "+rel)
	}
	if diff := cmp.Diff([]string{"HG002 prod/app.yaml"}, got); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
	if len(res.units) != 2 {
		t.Fatalf("%d units, want 2", len(res.units))
	}
	var injected []string
	for _, u := range res.units {
		done, err := fixSet(u.Set, Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range done {
			rel, _ := filepath.Rel(root, d.File)
			injected = append(injected, rel+": "+d.Description)
		}
	}
	if diff := cmp.Diff([]string{"prod/app.yaml: create headless Service `default/web`"}, injected); diff != "" {
		t.Errorf("fixes (-want +got):\n%s", diff)
	}
	if res, _ := Run(Options{Paths: []string{dev, prod}, Scope: ScopeAll}); len(res.Report.Findings) != 0 || len(res.Report.Notices) != 1 {
		t.Errorf("--scope all: %d findings, %d notices; want none and the duplicate-object notice", len(res.Report.Findings), len(res.Report.Notices))
	}
}
