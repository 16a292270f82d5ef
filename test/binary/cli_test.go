package binary

import (
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/headless-guard/headless-guard/test/framework"
)

func checkJSON(t *testing.T, stdin []byte, args ...string) (framework.JSONReport, framework.Result) {
	t.Helper()
	r := framework.Run(t, stdin, append([]string{"check", "-o", "json"}, args...)...)
	var rep framework.JSONReport
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
		t.Fatalf("output is not JSON (%v):\n%s\nstderr: %s", err, r.Stdout, r.Stderr)
	}
	return rep, r
}

// verdicts reduces findings to what must not depend on how the input arrived.
func verdicts(rep framework.JSONReport) []string {
	var out []string
	for _, f := range rep.Findings {
		out = append(out, strings.Join([]string{f.Rule, f.Severity, f.Object.Kind, f.Object.Namespace, f.Object.Name, f.Field, f.Message}, " | "))
	}
	sort.Strings(out)
	return out
}

func TestCheckFindsAndLocates(t *testing.T) {
	rep, r := checkJSON(t, nil, "testdata/cli")
	if r.Code != 1 {
		t.Fatalf("exit %d, want 1 (deny findings); stderr: %s", r.Code, r.Stderr)
	}
	want := map[string]string{
		"HG002": "testdata/cli/web.yaml:21", // spec.serviceName of web
		"HG004": "testdata/cli/db.yaml:25",  // spec.template.metadata.labels of db
	}
	got := map[string]string{}
	for _, f := range rep.Findings {
		if f.Severity == "deny" {
			got[f.Rule] = f.File + ":" + itoa(f.Line)
		}
		if f.Remediation == "" || !strings.HasSuffix(f.Remediation, ".") {
			t.Errorf("%s: remediation %q must be a sentence", f.Rule, f.Remediation)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("deny findings and locations (-want +got):\n%s", diff)
	}
	if rep.Summary["objects"] != 4 || rep.Summary["deny"] != 2 {
		t.Errorf("summary %v", rep.Summary)
	}

	text := framework.Run(t, nil, "check", "-f", "testdata/cli/web.yaml")
	if text.Code != 1 || !strings.Contains(text.Stdout, "testdata/cli/web.yaml:21: deny HG002") ||
		!strings.Contains(text.Stdout, "`nginx-headless` selects these pods; set `spec.serviceName: nginx-headless`") {
		t.Errorf("text output (exit %d):\n%s", text.Code, text.Stdout)
	}
}

func TestRuleOverridesAndMode(t *testing.T) {
	if r := framework.Run(t, nil, "check", "--rule", "HG002=warn", "--rule", "selector-matches-pods=off", "testdata/cli"); r.Code != 0 {
		t.Errorf("with HG002=warn and HG004 off: exit %d, want 0\n%s", r.Code, r.Stdout)
	}
	if r := framework.Run(t, nil, "check", "--mode", "warn", "testdata/cli"); r.Code != 0 || !strings.Contains(r.Stdout, "warn HG002") {
		t.Errorf("--mode warn: exit %d, want 0 with HG002 as a warning\n%s", r.Code, r.Stdout)
	}
	// A controller's StatefulSet is reported, never denied, unless
	// --controller-owned=enforce; the exit status follows.
	owned := strings.Replace(framework.ReadFile(t, "testdata/cli/web.yaml"), "kind: StatefulSet\nmetadata:\n", "kind: StatefulSet\nmetadata:\n  ownerReferences:\n  - {apiVersion: example.com/v1, kind: Web, name: web, uid: 0b5c8a1e-0000-4000-8000-000000000001, controller: true}\n", 1)
	if r := framework.Run(t, []byte(owned), "check", "-"); r.Code != 0 || !strings.Contains(r.Stdout, "warn HG002") {
		t.Errorf("controller-owned: exit %d, want 0 with HG002 as a warning\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if r := framework.Run(t, []byte(owned), "check", "--controller-owned", "enforce", "-"); r.Code != 1 || !strings.Contains(r.Stdout, "deny HG002") {
		t.Errorf("controller-owned, --controller-owned enforce: exit %d, want 1 with HG002\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	rep, _ := checkJSON(t, nil, "--rule", "HG004=off", "testdata/cli/db.yaml")
	for _, f := range rep.Findings {
		if f.Rule == "HG004" {
			t.Errorf("HG004 reported although off")
		}
	}
}

// kustomize build and helm template print one stream: no namespaces,
// `---` separators, comments, sometimes a List. Piped to `check -` they must
// give the findings the files give.
func TestStdinMatchesFiles(t *testing.T) {
	web, _ := os.ReadFile("testdata/cli/web.yaml")
	db, _ := os.ReadFile("testdata/cli/db.yaml")
	files, _ := checkJSON(t, nil, "testdata/cli/db.yaml", "testdata/cli/web.yaml")
	want := verdicts(files)
	if len(want) == 0 {
		t.Fatal("the files give no findings; the comparison would prove nothing")
	}

	helm := "---\n# Source: app/templates/db.yaml\n" + string(db) + "\n---\n# Source: app/templates/web.yaml\n" + string(web)
	kustomize := string(web) + "\n---\n" + string(db)
	list := toList(t, []string{"testdata/cli/web.yaml", "testdata/cli/db.yaml"})
	for name, input := range map[string]string{"helm template": helm, "kustomize build": kustomize, "kind: List": list} {
		t.Run(name, func(t *testing.T) {
			rep, r := checkJSON(t, []byte(input), "-")
			if r.Code != 1 {
				t.Errorf("exit %d, want 1; stderr: %s", r.Code, r.Stderr)
			}
			if diff := cmp.Diff(want, verdicts(rep)); diff != "" {
				t.Errorf("stdin findings differ from the files' (-files +stdin):\n%s", diff)
			}
			for _, f := range rep.Findings {
				if f.File != "<stdin>" || f.Line < 1 {
					t.Errorf("finding located at %s:%d, want <stdin>:line", f.File, f.Line)
				}
			}
		})
	}

	// Document order never matters: the Service after its StatefulSet.
	reversed := "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: web}\nspec:\n  serviceName: nginx-headless\n  selector: {matchLabels: {app: nginx}}\n  template:\n    metadata: {labels: {app: nginx}}\n    spec: {containers: [{name: nginx, image: nginx, ports: [{name: web, containerPort: 80}]}]}\n---\n" +
		"apiVersion: v1\nkind: Service\nmetadata: {name: nginx-headless}\nspec: {clusterIP: None, selector: {app: nginx}, ports: [{name: web, port: 80}]}\n"
	if r := framework.Run(t, []byte(reversed), "check", "-"); r.Code != 0 {
		t.Errorf("Service after its StatefulSet: exit %d\n%s", r.Code, r.Stdout)
	}
}

// toList wraps the objects of the files in a v1 List, as `kubectl get -o yaml` prints.
func toList(t *testing.T, paths []string) string {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: List\nitems:\n")
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, doc := range strings.Split(string(data), "\n---\n") {
			lines := strings.Split(strings.TrimSpace(doc), "\n")
			first := true
			for _, l := range lines {
				if strings.HasPrefix(strings.TrimSpace(l), "#") && first {
					continue
				}
				if first {
					b.WriteString("- " + l + "\n")
					first = false
				} else {
					b.WriteString("  " + l + "\n")
				}
			}
		}
	}
	return b.String()
}

func TestParseErrorsNameFileAndLine(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("apiVersion: v1\nkind: Service\nmetadata:\n  name: ok\n---\napiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: web\n spec: {}\n"), 0o644)
	r := framework.Run(t, nil, "check", bad)
	if r.Code != 2 || !regexp.MustCompile(regexp.QuoteMeta(bad)+`:10: invalid YAML`).MatchString(r.Stderr) || strings.Contains(r.Stderr, "--help") {
		t.Errorf("exit %d, stderr %q; want exit 2 naming %s:10, without a usage hint", r.Code, r.Stderr, bad)
	}
	typed := filepath.Join(dir, "typed.yaml")
	os.WriteFile(typed, []byte("apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: web\nspec:\n  replicas: three\n"), 0o644)
	r = framework.Run(t, nil, "check", typed)
	if r.Code != 2 || !strings.Contains(r.Stderr, typed+":6:") || !strings.Contains(r.Stderr, "spec.replicas") {
		t.Errorf("exit %d, stderr %q; want exit 2 naming %s:6 and spec.replicas", r.Code, r.Stderr, typed)
	}
	r = framework.Run(t, []byte("- just\n- a list\n"), "check", "-")
	if r.Code != 2 || !strings.Contains(r.Stderr, "<stdin>:1:") {
		t.Errorf("exit %d, stderr %q", r.Code, r.Stderr)
	}
	r = framework.Run(t, nil, "check", filepath.Join(dir, "missing.yaml"))
	if r.Code != 2 || !strings.Contains(r.Stderr, "missing.yaml") {
		t.Errorf("exit %d, stderr %q", r.Code, r.Stderr)
	}
}

func TestUsageErrors(t *testing.T) {
	for name, args := range map[string][]string{
		"no input":     {"check"},
		"bad output":   {"check", "-o", "yaml", "testdata/cli"},
		"unknown rule": {"check", "--rule", "HG999=warn", "testdata/cli"},
		"bad action":   {"check", "--rule", "HG004=block", "testdata/cli"},
		"bad mode":     {"check", "--mode", "audit", "testdata/cli"},
		"bad policy":   {"check", "--policy", "lax", "testdata/cli"},
		"bad owned":    {"check", "--controller-owned", "ignore", "testdata/cli"},
		"write no fix": {"check", "--write", "testdata/cli"},
		"unknown flag": {"check", "--frobnicate", "testdata/cli"},
		"unknown cmd":  {"frobnicate"},
	} {
		t.Run(name, func(t *testing.T) {
			r := framework.Run(t, nil, args...)
			if r.Code != 2 || !strings.Contains(r.Stderr, "error: ") {
				t.Errorf("exit %d, stderr %q; want exit 2 with an error", r.Code, r.Stderr)
			}
		})
	}
}

func TestSARIFAndJUnit(t *testing.T) {
	r := framework.Run(t, nil, "check", "-o", "sarif", "testdata/cli")
	var sarif struct {
		Version string `json:"version"`
		Runs    []struct {
			Tool struct {
				Driver struct {
					Rules []struct {
						ID   string `json:"id"`
						Help struct {
							Text string `json:"text"`
						} `json:"help"`
					} `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
			Results []struct {
				RuleID    string `json:"ruleId"`
				RuleIndex int    `json:"ruleIndex"`
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct{ URI string }    `json:"artifactLocation"`
						Region           struct{ StartLine int } `json:"region"`
					} `json:"physicalLocation"`
				} `json:"locations"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &sarif); err != nil || sarif.Version != "2.1.0" || len(sarif.Runs) != 1 {
		t.Fatalf("not SARIF 2.1.0 (%v):\n%s", err, r.Stdout)
	}
	run0 := sarif.Runs[0]
	if len(run0.Results) == 0 {
		t.Fatal("no results")
	}
	for _, res := range run0.Results {
		if run0.Tool.Driver.Rules[res.RuleIndex].ID != res.RuleID || run0.Tool.Driver.Rules[res.RuleIndex].Help.Text == "" {
			t.Errorf("result %s points at rule %d without matching id or help", res.RuleID, res.RuleIndex)
		}
		loc := res.Locations[0].PhysicalLocation
		// Relative to the repository root (issue 14), where code scanning resolves it.
		if !strings.HasPrefix(loc.ArtifactLocation.URI, "test/binary/testdata/cli/") || loc.Region.StartLine < 1 {
			t.Errorf("result %s located at %+v", res.RuleID, loc)
		}
	}

	r = framework.Run(t, nil, "check", "-o", "junit", "testdata/cli")
	var suites struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
	}
	if err := xml.Unmarshal([]byte(r.Stdout), &suites); err != nil {
		t.Fatalf("not XML (%v):\n%s", err, r.Stdout)
	}
	if suites.Tests != 4 || suites.Failures != 2 {
		t.Errorf("junit: %d tests, %d failures; want 4 objects, 2 failing", suites.Tests, suites.Failures)
	}
}

func TestFixKeepsCommentsAndWrites(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"web.yaml", "db.yaml"} {
		data, _ := os.ReadFile(filepath.Join("testdata/cli", name))
		os.WriteFile(filepath.Join(dir, name), data, 0o644)
	}
	r := framework.Run(t, nil, "check", "--fix", filepath.Join(dir, "web.yaml"))
	if r.Code != 0 {
		t.Errorf("--fix: exit %d, want 0 after fixing\nstderr: %s", r.Code, r.Stderr)
	}
	original, _ := os.ReadFile(filepath.Join(dir, "web.yaml"))
	if !strings.HasPrefix(r.Stdout, string(original)) {
		t.Errorf("--fix must print the unchanged documents byte for byte:\n%s", r.Stdout)
	}
	if !strings.Contains(r.Stdout, "kind: Service\nmetadata:\n  annotations:\n    headless-guard.io/statefulset: web") ||
		!regexp.MustCompile(`(?m)^  name: nginx\n`).MatchString(r.Stdout) || !strings.Contains(r.Stdout, "clusterIP: None") {
		t.Errorf("--fix must append the missing headless Service:\n%s", r.Stdout)
	}
	if !strings.Contains(r.Stderr, "create headless Service `default/nginx`") {
		t.Errorf("stderr must say what was fixed: %s", r.Stderr)
	}

	r = framework.Run(t, nil, "check", "--fix", "--write", dir)
	if r.Code != 0 {
		t.Fatalf("--fix --write: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	db, _ := os.ReadFile(filepath.Join(dir, "db.yaml"))
	for _, want := range []string{"# component label forgotten", "app.kubernetes.io/component: primary", "name: postgres"} {
		if !strings.Contains(string(db), want) {
			t.Errorf("rewritten db.yaml lacks %q:\n%s", want, db)
		}
	}
	if r := framework.Run(t, nil, "check", dir); r.Code != 0 {
		t.Errorf("after --fix --write the directory must be clean: exit %d\n%s", r.Code, r.Stdout)
	}
}

func TestVersion(t *testing.T) {
	if r := framework.Run(t, nil, "version"); r.Code != 0 || !strings.HasPrefix(r.Stdout, "headless-guard ") {
		t.Errorf("version: %d %q", r.Code, r.Stdout)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
