package binary

import (
	"bufio"
	"bytes"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	sigsyaml "sigs.k8s.io/yaml"

	"github.com/headless-guard/headless-guard/test/framework"
)

// ciFixtures is a repository as application teams lay theirs out:
// envs/{dev,prod} (only dev defines the headless Service), and repo/ with
// a chart's sources, a kustomization, plain manifests and a directory an
// ignore file leaves out.
const ciFixtures = "testdata/ci"

// ciCommand is a command of README.md's CI section or docs/ci.md, run
// in a copy of ciFixtures as a CI job would run it.
type ciCommand struct {
	dir  string // under the fixture copy
	cmd  string // exactly as the docs spell it
	code int
	// want are substrings of stdout and stderr; check inspects the
	// files the command wrote.
	want  []string
	check func(t *testing.T, dir string)
}

// ciCommands are every command of the docs but the cluster's
// (framework.ClusterDocCommands, TestCheckClusterDocs) and `go install`.
var ciCommands = []ciCommand{
	{dir: ".", cmd: "headless-guard check envs/dev envs/prod", code: 1,
		want: []string{"envs/prod/app.yaml:7: deny HG002 service-exists: StatefulSet default/web", "3 objects checked: 1 deny, 0 warn"}},
	{dir: ".", cmd: "headless-guard check --scope dir envs", code: 1,
		want: []string{"envs/prod/app.yaml:7: deny HG002"}},
	{dir: "repo", cmd: "headless-guard check .", code: 0,
		want: []string{
			"charts/db/Chart.yaml: skipped: a Helm chart's Chart.yaml, not a manifest",
			"charts/db/values.yaml: skipped: a Helm chart's values",
			"charts/db/templates/service.yaml: skipped: a Go template of the Helm chart in charts/db",
			"charts/db/templates/statefulset.yaml: skipped: a Go template",
			"kustomize/base/kustomization.yaml: skipped: a kustomization, not a manifest",
			"kustomize/prod/replicas.yaml: skipped: a patch of the kustomization in kustomize/prod, not a whole object",
			"4 objects checked: no findings (7 files skipped)",
		}},
	{dir: "repo", cmd: "headless-guard check --exclude 'scratch/' --exclude '*.draft.yaml' .", code: 0,
		want: []string{"4 objects checked: no findings (7 files skipped)"}},
	{dir: ".", cmd: "headless-guard check --fail-on warn envs/dev", code: 0,
		want: []string{"2 objects checked: no findings"}},
	{dir: ".", cmd: "headless-guard check -o github envs/dev envs/prod", code: 1,
		want: []string{"::error file=envs/prod/app.yaml,line=7,title=HG002 service-exists::StatefulSet default/web: spec.serviceName: Not found: \"web\""}},
	{dir: ".", cmd: "headless-guard check -o sarif envs/dev envs/prod > headless-guard.sarif", code: 1,
		check: func(t *testing.T, dir string) {
			uris := sarifURIs(t, filepath.Join(dir, "headless-guard.sarif"))
			if len(uris) != 1 || uris[0] != "envs/prod/app.yaml %SRCROOT%" {
				t.Errorf("SARIF locations %v, want envs/prod/app.yaml relative to %%SRCROOT%%", uris)
			}
		}},
	{dir: ".", cmd: "headless-guard check -o junit envs/dev envs/prod > headless-guard.xml", code: 1,
		check: func(t *testing.T, dir string) {
			data, err := os.ReadFile(filepath.Join(dir, "headless-guard.xml"))
			if err != nil {
				t.Fatal(err)
			}
			var suites struct {
				Tests    int `xml:"tests,attr"`
				Failures int `xml:"failures,attr"`
			}
			if err := xml.Unmarshal(data, &suites); err != nil || suites.Tests != 3 || suites.Failures != 1 {
				t.Errorf("JUnit: %d tests, %d failures (%v), want 3 and 1:\n%s", suites.Tests, suites.Failures, err, data)
			}
		}},
	{dir: "repo", cmd: "set -o pipefail\nhelm template my-release charts/db | headless-guard check -", code: 0,
		want: []string{"2 objects checked: no findings"}},
	{dir: "repo", cmd: "helm template my-release charts/db | headless-guard check -", code: 0,
		want: []string{"2 objects checked: no findings"}},
	{dir: ".", cmd: "headless-guard check --fix envs/prod > fixed.yaml", code: 0,
		want: []string{"fixed: envs/prod/app.yaml:2: StatefulSet default/web: create headless Service `default/web`", "2 objects checked: no findings"},
		check: func(t *testing.T, dir string) {
			data, _ := os.ReadFile(filepath.Join(dir, "fixed.yaml"))
			if !bytes.Contains(data, []byte("kind: Service")) || !bytes.Contains(data, []byte("clusterIP: None")) {
				t.Errorf("fixed.yaml lacks the injected headless Service:\n%s", data)
			}
		}},
}

func sarifURIs(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var log struct {
		Runs []struct {
			OriginalURIBaseIDs map[string]struct{ URI string } `json:"originalUriBaseIds"`
			Results            []struct {
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct {
							URI       string `json:"uri"`
							URIBaseID string `json:"uriBaseId"`
						} `json:"artifactLocation"`
					} `json:"physicalLocation"`
				} `json:"locations"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(data, &log); err != nil || len(log.Runs) != 1 {
		t.Fatalf("not SARIF (%v):\n%s", err, data)
	}
	if base := log.Runs[0].OriginalURIBaseIDs["%SRCROOT%"].URI; !strings.HasPrefix(base, "file:///") || !strings.HasSuffix(base, "/") {
		t.Errorf("originalUriBaseIds %%SRCROOT%% = %q, want a file:/// directory URI", base)
	}
	var out []string
	for _, r := range log.Runs[0].Results {
		for _, l := range r.Locations {
			out = append(out, l.PhysicalLocation.ArtifactLocation.URI+" "+l.PhysicalLocation.ArtifactLocation.URIBaseID)
		}
	}
	return out
}

// TestCIDocs runs every command of README.md's CI section and docs/ci.md
// in a copy of the fixtures, and fails on a command of the docs that no
// case runs.
func TestCIDocs(t *testing.T) {
	documented := docCommands(t, "../../docs/ci.md", "")
	documented = append(documented, docCommands(t, "../../README.md", "## Check manifests in CI")...)
	known := map[string]bool{}
	for _, c := range ciCommands {
		known[c.cmd] = true
	}
	for _, c := range framework.ClusterDocCommands {
		known[c] = true
	}
	for _, c := range documented {
		if !known[c] {
			t.Errorf("the docs' command %q is run by no test: add it to ciCommands or clusterDocCommands", c)
		}
	}
	for _, c := range ciCommands {
		if !slicesContains(documented, c.cmd) {
			t.Errorf("ciCommands has %q, which the docs no longer show", c.cmd)
		}
	}
	for _, c := range ciCommands {
		t.Run(c.cmd, func(t *testing.T) {
			checkout := framework.CopyFixtures(t)
			dir := filepath.Join(checkout, c.dir)
			r := framework.Shell(t, dir, c.cmd)
			if r.Code != c.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.Code, c.code, r.Stdout, r.Stderr)
			}
			for _, w := range c.want {
				if !strings.Contains(r.Stdout+r.Stderr, w) {
					t.Errorf("output lacks %q\nstdout:\n%s\nstderr:\n%s", w, r.Stdout, r.Stderr)
				}
			}
			if c.check != nil {
				c.check(t, dir)
			}
		})
	}
}

func slicesContains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// docCommands extracts the commands of a Markdown file (from the section
// under heading on, to the next heading of its level, when heading is
// set): each line of a sh block, with `set -o pipefail` joined to the
// line after it, and the `run:` steps and script lines of YAML blocks.
// `go install` lines are left out: the test runs the binary it built.
func docCommands(t *testing.T, path, heading string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	if heading != "" {
		i := strings.Index(text, heading+"\n")
		if i < 0 {
			t.Fatalf("%s has no %q", path, heading)
		}
		text = text[i+len(heading):]
		if j := strings.Index(text, "\n## "); j >= 0 {
			text = text[:j]
		}
	}
	runStep := regexp.MustCompile(`^\s*(?:- )?(?:run: )?(headless-guard .*|helm .*)$`)
	var out []string
	var block, pending string
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "```") {
			if block == "" {
				block = strings.TrimPrefix(line, "```")
				if block == "" {
					block = "text"
				}
			} else {
				block = ""
			}
			continue
		}
		switch block {
		case "sh":
			cmd := strings.TrimSpace(line)
			if i := strings.Index(cmd, "  #"); i >= 0 {
				cmd = strings.TrimSpace(cmd[:i])
			}
			if cmd == "" || strings.HasPrefix(cmd, "go install ") {
				continue
			}
			if cmd == "set -o pipefail" {
				pending = cmd + "\n"
				continue
			}
			out = append(out, pending+cmd)
			pending = ""
		case "yaml":
			if m := runStep.FindStringSubmatch(line); m != nil {
				out = append(out, strings.TrimSpace(m[1]))
			}
		}
	}
	return out
}

// TestPreCommitHook runs the hook of .pre-commit-hooks.yaml as pre-commit
// would: entry, then args, in the repository, when a matching file
// changed.
func TestPreCommitHook(t *testing.T) {
	data, err := os.ReadFile("../../.pre-commit-hooks.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var hooks []struct {
		ID            string   `json:"id"`
		Entry         string   `json:"entry"`
		Language      string   `json:"language"`
		Files         string   `json:"files"`
		PassFilenames *bool    `json:"pass_filenames"`
		Args          []string `json:"args"`
	}
	if err := sigsyaml.Unmarshal(data, &hooks); err != nil || len(hooks) != 1 {
		t.Fatalf("reading .pre-commit-hooks.yaml (%v): %d hooks", err, len(hooks))
	}
	h := hooks[0]
	if h.ID != "headless-guard" || h.Language != "golang" || !strings.HasPrefix(h.Entry, "headless-guard check") {
		t.Errorf("hook %+v: want id headless-guard, language golang, entry headless-guard check", h)
	}
	files := regexp.MustCompile(h.Files)
	for name, want := range map[string]bool{"a.yaml": true, "b.yml": true, "c.json": true, "README.md": false} {
		if files.MatchString(name) != want {
			t.Errorf("files %q matches %s: %v, want %v", h.Files, name, !want, want)
		}
	}
	if h.PassFilenames == nil || *h.PassFilenames {
		t.Error("the hook must not take file names: a StatefulSet's Service may be in a file the commit leaves unchanged")
	}
	checkout := framework.CopyFixtures(t)
	args := append(strings.Fields(h.Entry)[1:], h.Args...)
	if r := runIn(t, filepath.Join(checkout, "repo"), args...); r.Code != 0 {
		t.Errorf("hook on a clean repository: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if r := runIn(t, filepath.Join(checkout, "envs", "prod"), args...); r.Code != 1 || !strings.Contains(r.Stdout, "HG002") {
		t.Errorf("hook on envs/prod: exit %d, want 1 with HG002\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
}

// runIn runs the binary in dir.
func runIn(t *testing.T, dir string, args ...string) framework.Result {
	t.Helper()
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return framework.Shell(t, dir, "headless-guard "+strings.Join(quoted, " "))
}

// TestCIScopes: each PATH is its own set of manifests; --scope all is one
// apply of everything, where prod's StatefulSet is satisfied by dev's
// Service and the StatefulSet defined twice is a notice.
func TestCIScopes(t *testing.T) {
	dev, prod := filepath.Join(ciFixtures, "envs", "dev"), filepath.Join(ciFixtures, "envs", "prod")
	rep, r := checkJSON(t, nil, dev, prod)
	if r.Code != 1 || len(rep.Findings) != 1 || rep.Findings[0].Rule != "HG002" || rep.Findings[0].File != filepath.Join(prod, "app.yaml") {
		t.Errorf("dev and prod apart: exit %d, findings %v, want HG002 in prod only\n%s", r.Code, verdicts(rep), r.Stderr)
	}
	// Each directory apart: prod; each file apart: both StatefulSets,
	// whose Service is in another file.
	for scope, want := range map[string]int{"dir": 1, "file": 2} {
		if rep, r := checkJSON(t, nil, "--scope", scope, filepath.Join(ciFixtures, "envs")); r.Code != 1 || len(rep.Findings) != want {
			t.Errorf("--scope %s envs: exit %d, findings %v, want %d HG002", scope, r.Code, verdicts(rep), want)
		}
	}
	// One PATH is one scope: envs/ holds both environments, and the notice
	// about the StatefulSet defined in both says how to check them apart.
	r = framework.Run(t, nil, "check", filepath.Join(ciFixtures, "envs"))
	if r.Code != 0 || !strings.Contains(r.Stdout, "(if "+dev+" and "+prod+" are applied apart, check them apart: one PATH each, or `--scope dir`)") {
		t.Errorf("check envs: exit %d, want 0 with a duplicate-object notice that says how to check apart\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	r = framework.Run(t, nil, "check", "--scope", "all", dev, prod)
	if r.Code != 0 || !strings.Contains(r.Stdout, "warn duplicate-object: StatefulSet default/web") {
		t.Errorf("--scope all: exit %d, want 0 with a duplicate-object notice\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	// --fix never borrows another scope's Service: prod gets its own.
	checkout := framework.CopyFixtures(t)
	r = framework.Shell(t, checkout, "headless-guard check --fix --write envs/dev envs/prod")
	if r.Code != 0 || !strings.Contains(r.Stderr, "wrote envs/prod/app.yaml") || strings.Contains(r.Stderr, "envs/dev/") {
		t.Errorf("--fix --write: exit %d, want only prod rewritten\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
}

// TestCINotManifests: what is not a manifest is named and skipped; a
// YAML error in a manifest still exits 2 with file and line.
func TestCINotManifests(t *testing.T) {
	repo := filepath.Join(ciFixtures, "repo")
	r := framework.Run(t, nil, "check", "-o", "json", repo)
	var rep struct {
		SkippedFiles []struct{ File, Reason string } `json:"skippedFiles"`
		Summary      struct {
			Objects      int `json:"objects"`
			SkippedFiles int `json:"skippedFiles"`
		} `json:"summary"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil || r.Code != 0 {
		t.Fatalf("exit %d (%v)\n%s%s", r.Code, err, r.Stdout, r.Stderr)
	}
	var skipped []string
	for _, s := range rep.SkippedFiles {
		rel, _ := filepath.Rel(repo, s.File)
		skipped = append(skipped, rel)
		if s.Reason == "" {
			t.Errorf("%s skipped without a reason", s.File)
		}
	}
	want := []string{"charts/db/Chart.yaml", "charts/db/templates/service.yaml", "charts/db/templates/statefulset.yaml", "charts/db/values.yaml",
		"kustomize/base/kustomization.yaml", "kustomize/prod/kustomization.yaml", "kustomize/prod/replicas.yaml"}
	if strings.Join(skipped, " ") != strings.Join(want, " ") || rep.Summary.SkippedFiles != 7 || rep.Summary.Objects != 4 {
		t.Errorf("skipped %v (summary %+v), want %v and 4 objects", skipped, rep.Summary, want)
	}
	// The ignore file leaves scratch/ out; named, its YAML error is one.
	notes := filepath.Join(repo, "scratch", "notes.yaml")
	if r := framework.Run(t, nil, "check", notes); r.Code != 2 || !strings.Contains(r.Stderr, notes+":5: invalid YAML") {
		t.Errorf("check %s: exit %d, want 2 naming line 5\n%s", notes, r.Code, r.Stderr)
	}
	// --exclude: the pattern, relative to the working directory.
	if r := framework.Run(t, nil, "check", "--exclude", "apps/", "--exclude", "testdata/ci/repo/kustomize/base/*.yaml", repo); r.Code != 2 || !strings.Contains(r.Stderr, "nothing to check") {
		t.Errorf("all manifests excluded: exit %d, want 2 (nothing to check)\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if r := framework.Run(t, nil, "check", "--exclude", "!apps/", repo); r.Code != 0 {
		t.Errorf("a negated --exclude alone: exit %d\n%s", r.Code, r.Stderr)
	}
	// A manifest with a document that has no kind is an error, not a skip.
	bad := filepath.Join(t.TempDir(), "app.yaml")
	os.WriteFile(bad, []byte("apiVersion: v1\nkind: Service\nmetadata: {name: a}\n---\nmetadata: {name: b}\n"), 0o644)
	if r := framework.Run(t, nil, "check", bad); r.Code != 2 || !strings.Contains(r.Stderr, bad+":5: document is not a Kubernetes object") {
		t.Errorf("a document without kind beside an object: exit %d\n%s", r.Code, r.Stderr)
	}
}

// TestCIEmptyInput: nothing checked is an error that names the input.
func TestCIEmptyInput(t *testing.T) {
	empty := filepath.Join(ciFixtures, "empty")
	values := filepath.Join(t.TempDir(), "values.yaml")
	os.WriteFile(values, []byte("replicas: 3\n"), 0o644)
	blank := filepath.Join(t.TempDir(), "blank.yaml")
	os.WriteFile(blank, []byte("# nothing yet\n---\n"), 0o644)
	cases := []struct {
		name  string
		stdin []byte
		args  []string
		want  string
	}{
		{"a directory without YAML", nil, []string{empty}, empty + " holds no .yaml, .yml or .json file"},
		{"standard input, empty", []byte{}, []string{"-"}, "standard input was empty: did the command before the pipe fail?"},
		{"only a values file", nil, []string{values}, values + " holds no manifest: 1 file skipped"},
		{"comments only", nil, []string{blank}, blank + " holds only empty files"},
		{"one of two inputs empty", []byte{}, []string{filepath.Join(ciFixtures, "envs", "dev"), "-"}, "standard input was empty"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := framework.Run(t, tc.stdin, append([]string{"check"}, tc.args...)...)
			if r.Code != 2 || !strings.Contains(r.Stderr, tc.want) || !strings.Contains(r.Stderr, "--allow-empty") {
				t.Errorf("exit %d, want 2 and %q\n%s", r.Code, tc.want, r.Stderr)
			}
			if r := framework.Run(t, tc.stdin, append([]string{"check", "--allow-empty"}, tc.args...)...); r.Code != 0 {
				t.Errorf("--allow-empty: exit %d\n%s", r.Code, r.Stderr)
			}
		})
	}
}

// TestCIFailOnWarn: warnings fail the run only with --fail-on warn.
func TestCIFailOnWarn(t *testing.T) {
	warnOnly := "apiVersion: v1\nkind: Service\nmetadata: {name: db}\nspec:\n  clusterIP: None\n  selector: {app: db}\n  ports: [{port: 5432}]\n---\n" +
		"apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: db}\nspec:\n  serviceName: db\n  selector: {matchLabels: {app: db}}\n  template:\n    metadata: {labels: {app: db}}\n    spec: {containers: [{name: db, image: postgres, ports: [{name: pg, containerPort: 5432}]}]}\n"
	if r := framework.Run(t, []byte(warnOnly), "check", "-"); r.Code != 0 || !strings.Contains(r.Stdout, "warn HG005") {
		t.Fatalf("default: exit %d, want 0 with HG005 warn\n%s", r.Code, r.Stdout)
	}
	if r := framework.Run(t, []byte(warnOnly), "check", "--fail-on", "warn", "-"); r.Code != 1 {
		t.Errorf("--fail-on warn: exit %d, want 1", r.Code)
	}
	if r := framework.Run(t, []byte(warnOnly), "check", "--fail-on", "deny", "-"); r.Code != 0 {
		t.Errorf("--fail-on deny: exit %d, want 0", r.Code)
	}
	if r := framework.Run(t, []byte(warnOnly), "check", "--fail-on", "error", "-"); r.Code != 2 || !strings.Contains(r.Stderr, "must be deny or warn") {
		t.Errorf("--fail-on error: exit %d\n%s", r.Code, r.Stderr)
	}
	// A notice is no warning finding: it never fails a run.
	dev, prod := filepath.Join(ciFixtures, "envs", "dev"), filepath.Join(ciFixtures, "envs", "prod")
	if r := framework.Run(t, nil, "check", "--scope", "all", "--fail-on", "warn", dev, prod); r.Code != 0 {
		t.Errorf("notices only, --fail-on warn: exit %d\n%s", r.Code, r.Stdout)
	}
}

// TestCIGitHubAndSARIFPaths: annotations and SARIF name files from the
// repository root, however the paths were given.
func TestCIGitHubAndSARIFPaths(t *testing.T) {
	prod, _ := filepath.Abs(filepath.Join(ciFixtures, "envs", "prod"))
	dev, _ := filepath.Abs(filepath.Join(ciFixtures, "envs", "dev"))
	r := framework.Run(t, nil, "check", "-o", "github", dev, prod)
	want := "::error file=test/binary/testdata/ci/envs/prod/app.yaml,line=7,title=HG002 service-exists::StatefulSet default/web: spec.serviceName: Not found: \"web\": must name an existing Service in namespace `default`"
	if r.Code != 1 || !strings.HasPrefix(r.Stdout, want) {
		t.Errorf("-o github with absolute paths: exit %d\n%s\nwant the first line to start with\n%s", r.Code, r.Stdout, want)
	}
	if strings.Count(r.Stdout, "\n") != 2 || !strings.Contains(r.Stdout, "%0Afix: ") {
		t.Errorf("want one annotation (message and fix on one line, escaped) and the summary:\n%s", r.Stdout)
	}
	out := filepath.Join(t.TempDir(), "out.sarif")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{prod}, "test/binary/testdata/ci/envs/prod/app.yaml %SRCROOT%"},
		{[]string{"--sarif-base", ciFixtures, prod}, "envs/prod/app.yaml %SRCROOT%"},
	} {
		r := framework.Run(t, nil, append([]string{"check", "-o", "sarif"}, tc.args...)...)
		os.WriteFile(out, []byte(r.Stdout), 0o644)
		if uris := sarifURIs(t, out); len(uris) != 1 || uris[0] != tc.want {
			t.Errorf("check -o sarif %v: locations %v, want %q", tc.args, uris, tc.want)
		}
	}
}

// TestCISmallerItems: issue 14's smaller items through the binary.
func TestCISmallerItems(t *testing.T) {
	t.Run("an unknown rule ID in the skip annotation is a notice", func(t *testing.T) {
		in := "apiVersion: v1\nkind: Service\nmetadata:\n  name: db\n  annotations:\n    headless-guard.io/skip: \"HG04\"\nspec: {clusterIP: None, selector: {app: db}, ports: [{name: pg, port: 5432}]}\n"
		r := framework.Run(t, []byte(in), "check", "-")
		if r.Code != 0 || !strings.Contains(r.Stdout, "<stdin>:5: warn unknown-skip: Service default/db: `metadata.annotations[headless-guard.io/skip]` names `HG04`, which is no rule ID") {
			t.Errorf("exit %d\n%s", r.Code, r.Stdout)
		}
	})
	t.Run("the summary counts objects that skip rules", func(t *testing.T) {
		in := "apiVersion: v1\nkind: Service\nmetadata:\n  name: db\n  annotations:\n    headless-guard.io/skip: \"all\"\nspec: {selector: {app: db}, ports: [{port: 5432}]}\n"
		r := framework.Run(t, []byte(in), "check", "-")
		if !strings.Contains(r.Stdout, "1 object checked: 0 deny, 0 warn, 1 object skips rules") {
			t.Errorf("summary:\n%s", r.Stdout)
		}
	})
	t.Run("usage errors point at the subcommand's help", func(t *testing.T) {
		for _, args := range [][]string{{"check", "--bogus"}, {"check", "--scope", "x", "a.yaml"}, {"check"}} {
			r := framework.Run(t, nil, args...)
			if r.Code != 2 || !strings.Contains(r.Stderr, "Run 'headless-guard check --help' for usage.") {
				t.Errorf("%v: exit %d\n%s", args, r.Code, r.Stderr)
			}
		}
	})
	t.Run("a wrong type reads as English", func(t *testing.T) {
		in := "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: w}\nspec:\n  serviceName: s\n  replicas: \"3\"\n"
		r := framework.Run(t, []byte(in), "check", "-")
		if r.Code != 2 || !strings.Contains(r.Stderr, "<stdin>:6: StatefulSet w: `spec.replicas` must be an integer (int32), not a string") {
			t.Errorf("exit %d\n%s", r.Code, r.Stderr)
		}
	})
	t.Run("--fix leaves Services no StatefulSet uses, and the spacing before comments", func(t *testing.T) {
		in := "apiVersion: v1\nkind: Service\nmetadata:\n  name: api   # public\nspec:\n  selector: {app: api}\n  ports:\n  - port: 80      # http\n---\n" +
			"apiVersion: v1\nkind: Service\nmetadata:\n  name: db\nspec:\n  clusterIP: None   # headless\n  selector: {app: db}\n  ports:\n  - port: 5432      # pg\n---\n" +
			"apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: db}\nspec:\n  serviceName: db\n  selector: {matchLabels: {app: db}}\n  template:\n    metadata: {labels: {app: db}}\n    spec: {containers: [{name: db, image: postgres}]}\n"
		r := framework.Run(t, []byte(in), "check", "--fix", "-")
		if r.Code != 0 {
			t.Fatalf("exit %d\n%s", r.Code, r.Stderr)
		}
		api := in[:strings.Index(in, "---\n")+4]
		if !strings.HasPrefix(r.Stdout, api) || strings.Contains(r.Stderr, "Service default/api") {
			t.Errorf("the api Service, which check calls clean, was changed:\n%s\n%s", r.Stdout, r.Stderr)
		}
		for _, line := range []string{"  clusterIP: None   # headless\n", "  - port: 5432      # pg\n    name: tcp-5432\n"} {
			if !strings.Contains(r.Stdout, line) {
				t.Errorf("fixed db Service lacks %q:\n%s", line, r.Stdout)
			}
		}
	})
}
