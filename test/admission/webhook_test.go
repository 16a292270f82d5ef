package admission

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/headless-guard/headless-guard/internal/manifest"
	"github.com/headless-guard/headless-guard/rules"
	"github.com/headless-guard/headless-guard/test/cluster"
	"github.com/headless-guard/headless-guard/test/framework"
)

// finding is what a user sees of one finding through kubectl.
type finding struct{ Rule, Action, Field string }

func (f finding) String() string { return f.Rule + " " + f.Action + " " + f.Field }

var (
	warningLine = regexp.MustCompile(`(?m)^Warning: (HG\d{3}) (\S+): `)
	// A denial prints "The Kind "name" is invalid: field: Type: value:
	// detail (HG002 service-exists)"; with several causes, one per "* " line.
	denialCause = regexp.MustCompile(`(?m)(?:is invalid: |^\* )([a-zA-Z][\w.\[\]-]*): .*?\((HG\d{3}) [a-z-]+\)`)
)

// seen parses kubectl's stderr into findings.
func seen(stderr string) []string {
	var out []string
	for _, m := range warningLine.FindAllStringSubmatch(stderr, -1) {
		out = append(out, finding{m[1], "warn", m[2]}.String())
	}
	for _, m := range denialCause.FindAllStringSubmatch(stderr, -1) {
		out = append(out, finding{m[2], "deny", m[1]}.String())
	}
	sort.Strings(out)
	return out
}

// step is one kubectl call of a fixture replay.
type step struct {
	op  rules.Operation
	obj *manifest.Object
}

// TestFixturesThroughKubectl replays every rule fixture and seed manifest
// through the real kubectl and API server, one object per kubectl call, in
// the order Helm installs (Services first, StatefulSets last), and compares
// what kubectl prints with the verdict of the rules package for the same
// sequence of requests: the webhook and the offline checker must agree. Fail
// fixtures must also show each deny they expect.
func TestFixturesThroughKubectl(t *testing.T) {
	dirs, _ := filepath.Glob("../../rules/testdata/*")
	for _, dir := range dirs {
		info, err := os.Stat(dir)
		if err != nil || !info.IsDir() {
			continue
		}
		id := filepath.Base(dir)
		files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
		rule, isRule := rules.Default().Get(id)
		// Each rule runs at its default (warn when off), then its fail
		// fixtures run again with the other action, so that every rule's
		// deny and warn paths go through kubectl.
		actions := []rules.Action{""}
		if isRule {
			first := rule.Default
			if first == rules.ActionOff {
				first = rules.ActionWarn
			}
			other := rules.ActionDeny
			if first == rules.ActionDeny {
				other = rules.ActionWarn
			}
			actions = []rules.Action{first, other}
		}
		for i, action := range actions {
			name, args, policy := id, []string(nil), rules.Policy{}
			if action != "" && (i > 0 || action != rule.Default) {
				args = []string{"--rule", id + "=" + string(action)}
				policy.Overrides = map[string]rules.Action{id: action}
			}
			if i > 0 {
				name = id + "=" + string(action)
			}
			t.Run(name, func(t *testing.T) {
				guardMu.Lock()
				defer guardMu.Unlock()
				c := guard(t, args...)
				for _, path := range files {
					base := filepath.Base(path)
					if base == "fixed.yaml" || (i > 0 && !strings.HasPrefix(base, "fail-")) {
						continue
					}
					t.Run(strings.TrimSuffix(base, ".yaml"), func(t *testing.T) {
						replay(t, c, id, path, policy, i == 0)
					})
				}
			})
		}
	}
}

func replay(t *testing.T, c *cluster.Cluster, id, path string, policy rules.Policy, checkExpectations bool) {
	set, err := manifest.Load([]string{path}, manifest.Options{KeepNodes: true})
	if err != nil {
		t.Fatal(err)
	}
	// A fixture in the strict policy (`# policy: strict`) runs in
	// namespaces labelled for it.
	var nsLabels map[string]string
	if level := fixtureLevel(t, path); level != "" {
		policy.Level = level
		nsLabels = map[string]string{rules.PolicyLabel: string(level)}
	}
	ns := framework.Namespace(t, c, id+"-"+strings.TrimSuffix(filepath.Base(path), ".yaml"), nsLabels)
	actions := map[string]bool{}
	defer func() {
		// A replay that never saw its rule act proves nothing about it.
		if policy.Overrides != nil && strings.HasPrefix(filepath.Base(path), "fail-") && !actions[id] {
			t.Errorf("no %s finding through kubectl", id)
		}
	}()
	// Explicit namespaces become namespaces of this replay.
	extra := map[string]string{}
	var steps []step
	olds := map[string]runtime.Object{}
	for _, o := range set.Objects {
		if o.Typed == nil {
			t.Fatalf("%s: %s is not a kind the replay handles", path, o.Ref)
		}
		m := o.Typed.(metav1.Object)
		target := ns
		if o.HasNamespace() {
			if extra[m.GetNamespace()] == "" {
				extra[m.GetNamespace()] = framework.Namespace(t, c, ns+"-"+m.GetNamespace(), nsLabels)
			}
			target = extra[m.GetNamespace()]
		}
		m.SetNamespace(target)
		if svc, ok := o.Typed.(*corev1.Service); ok {
			// Replays share one cluster: let it allocate node ports.
			for i := range svc.Spec.Ports {
				svc.Spec.Ports[i].NodePort = 0
			}
		}
		switch m.GetAnnotations()["test.headless-guard.io/operation"] {
		case "UPDATE-OLD":
			olds[o.Ref.Kind+"/"+o.Ref.Name] = o.Typed
			steps = append(steps, step{op: rules.Create, obj: o})
		case "UPDATE":
			steps = append(steps, step{op: rules.Update, obj: o})
		case "DELETE":
			steps = append(steps, step{op: rules.Create, obj: o}, step{op: rules.Delete, obj: o})
		default:
			steps = append(steps, step{op: rules.Create, obj: o})
		}
	}
	// Helm's install order: Services, then other workloads, then StatefulSets;
	// updates and deletes after every create.
	rank := func(s step) int {
		switch {
		case s.op != rules.Create:
			return 3
		case s.obj.Ref.Kind == rules.KindService:
			return 0
		case s.obj.Ref.Kind == rules.KindStatefulSet:
			return 2
		}
		return 1
	}
	sort.SliceStable(steps, func(i, j int) bool { return rank(steps[i]) < rank(steps[j]) })

	idx := rules.NewIndex()
	var denials []string
	for _, s := range steps {
		req := &rules.Request{Operation: s.op, Object: s.obj.Typed}
		var args []string
		switch s.op {
		case rules.Delete:
			req = &rules.Request{Operation: rules.Delete, OldObject: s.obj.Typed}
			args = []string{"delete", "service", s.obj.Ref.Name, "-n", s.obj.Typed.(metav1.Object).GetNamespace()}
		case rules.Update:
			req.OldObject = olds[s.obj.Ref.Kind+"/"+s.obj.Ref.Name]
			fallthrough
		default:
			args = []string{"apply", "-f", "-"}
		}
		res, err := rules.Default().Evaluate(req, idx, &policy)
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, f := range res.Findings {
			want = append(want, finding{f.Rule.ID, string(f.Action), f.Field()}.String())
			if f.Rule.ID == id && policy.Overrides != nil && f.Action == policy.Overrides[id] {
				actions[id] = true
			}
		}
		sort.Strings(want)
		var stdin []byte
		if s.op != rules.Delete {
			stdin, _ = json.Marshal(s.obj.Typed)
		}
		_, stderr, err := framework.Kubectl(t, c, stdin, args...)
		got := seen(stderr)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s %s: kubectl shows other findings than the rules (-rules +kubectl):\n%s\nstderr:\n%s", s.op, s.obj.Ref, diff, stderr)
		}
		if denied := res.Denied(); denied != (err != nil) {
			t.Errorf("%s %s: kubectl error %v, rules denied=%v\nstderr:\n%s", s.op, s.obj.Ref, err, denied, stderr)
		}
		for _, line := range want {
			if strings.Contains(line, " deny ") {
				denials = append(denials, line)
			}
		}
		// What was admitted is what the next request sees.
		if err == nil && s.op != rules.Delete {
			idx.Add(s.obj.Typed)
		}
	}
	if checkExpectations && strings.HasPrefix(filepath.Base(path), "fail-") {
		for _, line := range expectations(t, path) {
			f := strings.Fields(line)
			if f[1] == "deny" && !strings.HasPrefix(f[2], "Service/") && !contains(denials, f[0]+" deny "+f[3]) {
				t.Errorf("expected %q, but kubectl never showed that denial (denials: %q)", line, denials)
			}
		}
	}
}

// fixtureLevel is the policy a fixture's `# policy:` line names, or "".
func fixtureLevel(t *testing.T, path string) rules.Level {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(l), "# policy:"); ok {
			level, err := rules.ParseLevel(rest)
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			return level
		}
	}
	return ""
}

func expectations(t *testing.T, path string) []string {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(l), "# expect:"); ok && strings.TrimSpace(rest) != "none" {
			out = append(out, strings.Join(strings.Fields(rest), " "))
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
