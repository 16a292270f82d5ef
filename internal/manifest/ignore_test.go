package manifest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestIgnorePatterns(t *testing.T) {
	cases := []struct {
		pattern string
		path    string
		dir     bool
		want    bool
	}{
		{"values.yaml", "values.yaml", false, true},
		{"values.yaml", "charts/db/values.yaml", false, true},
		{"*.draft.yaml", "a/b/x.draft.yaml", false, true},
		{"*.draft.yaml", "a/b/x.yaml", false, false},
		{"scratch/", "scratch", true, true},
		{"scratch/", "scratch", false, false},
		{"scratch/", "a/scratch", true, true},
		{"/scratch", "a/scratch", true, false},
		{"/scratch", "scratch", true, true},
		{"charts/*/ci", "charts/db/ci", true, true},
		{"charts/*/ci", "x/charts/db/ci", true, false},
		{"charts/**/tests", "charts/a/b/tests", true, true},
		{"charts/**/tests", "charts/tests", true, true},
		{"**/tests", "a/tests", true, true},
		{"a/**", "a/b/c.yaml", false, true},
		{"# comment", "# comment", false, false},
		{"\\#name.yaml", "#name.yaml", false, true},
	}
	for _, tc := range cases {
		p, ok := parsePattern(tc.pattern)
		if got := ok && p.match(tc.path, tc.dir); got != tc.want {
			t.Errorf("pattern %q on %q (dir %v) = %v, want %v", tc.pattern, tc.path, tc.dir, got, tc.want)
		}
	}
}

// TestCollectIgnores walks a tree with ignore files at two levels and
// --exclude: the last matching pattern decides; a named file is read.
func TestCollectIgnores(t *testing.T) {
	root := t.TempDir()
	write := func(rel, data string) {
		p := filepath.Join(root, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	obj := "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n"
	write(".headless-guard-ignore", "*.draft.yaml\ngen/\n")
	write("app.yaml", obj)
	write("app.draft.yaml", obj)
	write("gen/x.yaml", obj)
	write("sub/.headless-guard-ignore", "!keep.draft.yaml\nlocal.yaml\n")
	write("sub/keep.draft.yaml", obj)
	write("sub/local.yaml", obj)
	write("sub/other.draft.yaml", obj)
	write("other/local.yaml", obj)
	write("other/skip.yaml", obj)
	sources, _, err := Collect([]string{root, filepath.Join(root, "gen", "x.yaml")}, Options{Exclude: []string{"skip.yaml"}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range sources {
		rel, _ := filepath.Rel(root, s.Path)
		got = append(got, rel)
	}
	want := "app.yaml other/local.yaml sub/keep.draft.yaml gen/x.yaml"
	if strings.Join(got, " ") != want {
		t.Errorf("read %v, want %s", got, want)
	}
}

// TestCollectUnits: a source's unit is the outermost kustomization or
// chart under its argument.
func TestCollectUnits(t *testing.T) {
	root := t.TempDir()
	obj := "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n"
	for rel, data := range map[string]string{
		"plain.yaml":                        obj,
		"charts/db/Chart.yaml":              "apiVersion: v2\nname: db\n",
		"charts/db/crds/x.yaml":             obj,
		"charts/db/charts/sub/Chart.yaml":   "apiVersion: v2\nname: sub\n",
		"charts/db/charts/sub/crds/y.yaml":  obj,
		"overlays/prod/kustomization.yaml":  "resources: [svc.yaml]\n",
		"overlays/prod/svc.yaml":            obj,
		"overlays/prod/templates/x.yaml":    obj,
		"charts/web/Chart.yaml":             "apiVersion: v2\nname: web\n",
		"charts/web/templates/service.yaml": "{{ if .Values.x }}\n" + obj + "{{ end }}\n",
	} {
		p := filepath.Join(root, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(data), 0o644)
	}
	sources, skipped, err := Collect([]string{root}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	units := map[string]string{}
	for _, s := range sources {
		rel, _ := filepath.Rel(root, s.Path)
		u, _ := filepath.Rel(root, s.Unit)
		if s.Unit == "" {
			u = ""
		}
		units[rel] = u
	}
	for file, want := range map[string]string{
		"plain.yaml":                       "",
		"charts/db/crds/x.yaml":            "charts/db",
		"charts/db/charts/sub/crds/y.yaml": "charts/db",
		"overlays/prod/svc.yaml":           "overlays/prod",
		"overlays/prod/templates/x.yaml":   "overlays/prod",
	} {
		if got, ok := units[file]; !ok || got != want {
			t.Errorf("%s: unit %q (read %v), want %q", file, got, ok, want)
		}
	}
	if len(skipped) != 1 || !strings.HasSuffix(skipped[0].Path, "charts/web/templates/service.yaml") || !strings.Contains(skipped[0].Reason, "Go template") {
		t.Errorf("skipped %+v, want the chart's template", skipped)
	}
}
