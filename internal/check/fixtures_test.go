package check

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/headless-guard/headless-guard/internal/manifest"
	"github.com/headless-guard/headless-guard/rules"
)

// The rule fixtures live in rules/testdata (see its README.md): for every
// rule, pass-*.yaml must produce no finding of the rule, fail-*.yaml exactly
// the findings its `# expect:` lines list, and fixed.yaml is the golden
// output of `--fix` over the fail files. This runner drives them through the
// offline checker; the webhook tests replay the same files through kubectl.
const fixtureRoot = "../../rules/testdata"

// operationAnnotation marks, in HG010/HG011 fixtures only, the documents that
// stand for an admission DELETE or UPDATE instead of a CREATE.
const operationAnnotation = "test.headless-guard.io/operation"

func TestRuleFixtures(t *testing.T) {
	for _, rule := range rules.Default().Rules() {
		t.Run(rule.ID, func(t *testing.T) {
			dir := filepath.Join(fixtureRoot, rule.ID)
			passes, _ := filepath.Glob(filepath.Join(dir, "pass-*.yaml"))
			fails, _ := filepath.Glob(filepath.Join(dir, "fail-*.yaml"))
			if len(passes) == 0 || len(fails) == 0 {
				t.Fatalf("%s needs pass-*.yaml and fail-*.yaml fixtures in %s", rule.ID, dir)
			}
			policy := rules.Policy{Overrides: map[string]rules.Action{rule.ID: forced(rule)}}
			for _, path := range passes {
				t.Run(filepath.Base(path), func(t *testing.T) {
					got := fixtureFindings(t, path, FixturePolicy(t, path, policy), rule.ID)
					if len(got) != 0 {
						t.Errorf("want no %s finding, got:\n%s", rule.ID, strings.Join(got, "\n"))
					}
				})
			}
			for _, path := range fails {
				t.Run(filepath.Base(path), func(t *testing.T) {
					want := expectations(t, path)
					if len(want) == 0 {
						t.Fatalf("%s has no `# expect:` line", path)
					}
					got := fixtureFindings(t, path, FixturePolicy(t, path, policy), rule.ID)
					if diff := cmp.Diff(want, got); diff != "" {
						t.Errorf("%s findings (-want +got):\n%s", rule.ID, diff)
					}
				})
			}
			t.Run("fixed.yaml", func(t *testing.T) {
				var out bytes.Buffer
				for _, path := range fails {
					fmt.Fprintf(&out, "# %s\n", filepath.Base(path))
					out.Write(fixOutput(t, path))
				}
				golden(t, filepath.Join(dir, "fixed.yaml"), out.Bytes())
			})
		})
	}
}

// TestSeedFixtures checks the manifests of the seed documents with every rule
// at its default action and compares with the verdicts their `# expect:`
// lines give.
func TestSeedFixtures(t *testing.T) {
	paths, _ := filepath.Glob(filepath.Join(fixtureRoot, "seeds", "*.yaml"))
	if len(paths) < 5 {
		t.Fatalf("want the seed documents' manifests in %s/seeds, found %d files", fixtureRoot, len(paths))
	}
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			want := expectations(t, path)
			got := fixtureFindings(t, path, rules.Policy{}, "")
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
		})
	}
}

// FixturePolicy is base at the level a fixture's `# policy:` line names
// (strict or default); base when it names none.
func FixturePolicy(t *testing.T, path string, base rules.Policy) rules.Policy {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "# policy:"); ok {
			level, err := rules.ParseLevel(rest)
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			base.Level = level
		}
	}
	return base
}

// forced is the action a rule is tested with: its default, or warn when off.
func forced(r *rules.Rule) rules.Action {
	if r.Default == rules.ActionOff {
		return rules.ActionWarn
	}
	return r.Default
}

// fixtureFindings evaluates a fixture the way admission sees it — every
// object on its own, against all the others — and, for plain CREATE
// fixtures, checks that the offline checker reports the same defects once
// each. It returns the findings of ruleID ("" for all) as expect lines.
func fixtureFindings(t *testing.T, path string, policy rules.Policy, ruleID string) []string {
	t.Helper()
	set, err := manifest.Load([]string{path}, manifest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	idx := rules.NewIndex()
	olds := map[string]*manifest.Object{}
	var requests []*rules.Request
	var plain = true
	for _, o := range set.Objects {
		if o.Typed == nil {
			// ConfigMaps are what the cluster would hold beside the
			// objects: evidence that per-pod names are used.
			if o.Ref.Kind == "ConfigMap" {
				for _, cm := range configMapsOf(o.Doc.Raw) {
					cm.Namespace = o.Ref.Namespace
					idx.Add(cm)
				}
			}
			continue
		}
		op := operationOf(o)
		switch op {
		case "":
			idx.Add(o.Typed)
			requests = append(requests, &rules.Request{Operation: rules.Create, Object: o.Typed})
		case "DELETE":
			idx.Add(o.Typed)
			requests = append(requests, &rules.Request{Operation: rules.Delete, OldObject: o.Typed})
		case "UPDATE-OLD":
			idx.Add(o.Typed)
			olds[o.Ref.Kind+"/"+o.Ref.Name] = o
		case "UPDATE":
			requests = append(requests, &rules.Request{Operation: rules.Update, Object: o.Typed})
		default:
			t.Fatalf("%s: unknown %s %q", o.Ref, operationAnnotation, op)
		}
		plain = plain && op == ""
	}
	var got []string
	for _, req := range requests {
		if req.Operation == rules.Update {
			old := olds[rules.RefOf(req.Object).Kind+"/"+rules.RefOf(req.Object).Name]
			if old == nil {
				t.Fatalf("%s: UPDATE without an UPDATE-OLD document", rules.RefOf(req.Object))
			}
			req.OldObject = old.Typed
		}
		res, err := rules.Default().Evaluate(req, idx, &policy)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range res.Findings {
			if ruleID == "" || f.Rule.ID == ruleID {
				got = append(got, expectLine(f))
			}
		}
	}
	sort.Strings(got)
	if plain {
		rep, err := evaluate(set, Options{Policy: policy})
		if err != nil {
			t.Fatal(err)
		}
		var offline []string
		for _, f := range rep.Findings {
			if ruleID == "" || f.Rule.ID == ruleID {
				offline = append(offline, expectLine(f.Finding))
			}
		}
		// The checker reports a subset (pairs once), and nothing else.
		for _, line := range offline {
			if !contains(got, line) {
				t.Errorf("offline checker reports %q, which admission does not", line)
			}
		}
		if len(got) > 0 && len(offline) == 0 {
			t.Errorf("offline checker reports nothing; admission reports:\n%s", strings.Join(got, "\n"))
		}
	}
	return got
}

func operationOf(o *manifest.Object) string {
	type annotated interface{ GetAnnotations() map[string]string }
	if a, ok := o.Typed.(annotated); ok {
		return a.GetAnnotations()[operationAnnotation]
	}
	return ""
}

func expectLine(f rules.Finding) string {
	return fmt.Sprintf("%s %s %s/%s %s", f.Rule.ID, f.Action, f.Object.Kind, f.Object.Name, f.Field())
}

// expectations reads the `# expect:` header lines of a fixture.
func expectations(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "# expect:")
		if !ok {
			continue
		}
		rest = strings.Join(strings.Fields(rest), " ")
		if rest != "none" {
			out = append(out, rest)
		}
	}
	sort.Strings(out)
	return out
}

// fixOutput is what `check --fix` prints for a file.
func fixOutput(t *testing.T, path string) []byte {
	t.Helper()
	var out bytes.Buffer
	if _, err := Fix(Options{Paths: []string{path}, Out: &out}, false); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if os.Getenv("UPDATE_GOLDEN") != "" {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (regenerate with UPDATE_GOLDEN=1)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s is stale (regenerate with UPDATE_GOLDEN=1 after checking the diff) (-want +got):\n%s", path, diff)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
