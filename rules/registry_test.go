package rules_test

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/headless-guard/headless-guard/rules"
)

// allRuleCases returns the success and error cases of every rule test, so
// that the meta-tests below run over exactly what the rule tests assert.
func allRuleCases() (successCases, errorCases []ruleCase) {
	for _, cases := range []func() ([]ruleCase, []ruleCase){
		hg001Cases, hg002Cases, hg003Cases, hg004Cases, hg005Cases, hg006Cases,
		hg007Cases, hg008Cases, hg009Cases, hg010Cases, hg011Cases, hg012Cases, hg013Cases,
	} {
		s, e := cases()
		successCases = append(successCases, s...)
		errorCases = append(errorCases, e...)
	}
	return successCases, errorCases
}

func validRule(id, name string) *rules.Rule {
	return &rules.Rule{
		ID: id, Name: name, Default: rules.ActionWarn,
		Kinds: []string{rules.KindService}, Operations: []rules.Operation{rules.Create},
		Check: func(*rules.Context) []rules.Problem { return nil },
	}
}

func TestNewRegistryPanics(t *testing.T) {
	cases := []struct {
		name      string
		rules     []*rules.Rule
		wantPanic string
	}{{
		name:      "duplicate ID",
		rules:     []*rules.Rule{validRule("HG100", "one"), validRule("HG100", "two")},
		wantPanic: "duplicate rule ID HG100",
	}, {
		name:      "duplicate name",
		rules:     []*rules.Rule{validRule("HG100", "same"), validRule("HG101", "same")},
		wantPanic: "duplicate rule name same",
	}, {
		name:      "missing ID",
		rules:     []*rules.Rule{validRule("", "nameless")},
		wantPanic: "incomplete rule",
	}, {
		name:      "missing Check",
		rules:     []*rules.Rule{func() *rules.Rule { r := validRule("HG100", "x"); r.Check = nil; return r }()},
		wantPanic: "incomplete rule",
	}, {
		name:      "invalid default action",
		rules:     []*rules.Rule{func() *rules.Rule { r := validRule("HG100", "x"); r.Default = "block"; return r }()},
		wantPanic: "invalid default action",
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				r := recover()
				if r == nil {
					t.Fatalf("NewRegistry did not panic")
				}
				if msg := fmt.Sprint(r); !strings.Contains(msg, tc.wantPanic) {
					t.Errorf("panic %q does not contain %q", msg, tc.wantPanic)
				}
			}()
			rules.NewRegistry(tc.rules...)
		})
	}
}

func TestNewRegistryAcceptsDistinctRules(t *testing.T) {
	reg := rules.NewRegistry(validRule("HG101", "b"), validRule("HG100", "a"))
	if diff := cmp.Diff([]string{"HG100", "HG101"}, reg.IDs()); diff != "" {
		t.Errorf("IDs() must be sorted (-want +got):\n%s", diff)
	}
	if got := reg.Rules(); got[0].ID != "HG101" || got[1].ID != "HG100" {
		t.Errorf("Rules() must keep registration order, got %s, %s", got[0].ID, got[1].ID)
	}
}

func TestDefaultRegistryCatalogue(t *testing.T) {
	// IDs are stable and never reused, and a default is user-visible: both are
	// pinned here so that changing one is a deliberate edit of this table.
	wantDefaults := map[string]rules.Action{
		"HG001": rules.ActionWarn, "HG002": rules.ActionDeny, "HG003": rules.ActionDeny, "HG004": rules.ActionDeny,
		"HG005": rules.ActionWarn, "HG006": rules.ActionWarn, "HG007": rules.ActionDeny, "HG008": rules.ActionWarn,
		"HG009": rules.ActionOff, "HG010": rules.ActionWarn, "HG011": rules.ActionDeny, "HG012": rules.ActionWarn,
		"HG013": rules.ActionWarn,
	}
	gotDefaults := map[string]rules.Action{}
	var gotOrder []string
	for _, r := range rules.Default().Rules() {
		gotDefaults[r.ID] = r.Default
		gotOrder = append(gotOrder, r.ID)
	}
	if diff := cmp.Diff(wantDefaults, gotDefaults); diff != "" {
		t.Errorf("catalogue defaults (-want +got):\n%s", diff)
	}
	if !slices.IsSorted(gotOrder) {
		t.Errorf("catalogue order must be ID order: %v", gotOrder)
	}
}

// belowDenyDespiteDNS are the rules whose breakage costs the pods their DNS
// names but that do not deny by default, each for a reason DNS does not
// show. Adding a rule here is a deliberate, reviewed choice.
var belowDenyDespiteDNS = map[string]string{
	"HG001": "an empty `serviceName` is legal since Kubernetes 1.31 and right for single-replica controllers nobody addresses by name",
	"HG009": "most applications do not need peers before they are ready",
	"HG010": "`helm uninstall` deletes Services before StatefulSets",
	"HG012": "a subdomain on a Deployment, Job or Pod is often copied boilerplate nothing resolves; denying every pod-template owner would block unrelated workloads",
}

// TestDefaultFollowsDNS holds each rule's default to what DNS answers when
// the rule is broken (test/e2e checks the claims against CoreDNS): a rule
// denies only when the pods lose their per-pod names or the pods
// themselves; one that costs only SRV records or adds addresses warns.
func TestDefaultFollowsDNS(t *testing.T) {
	for _, r := range rules.Default().Rules() {
		t.Run(r.ID, func(t *testing.T) {
			if len(r.DNS) == 0 {
				t.Fatal("DNS must list at least one way of breaking the rule and what CoreDNS then answers")
			}
			seen := map[string]bool{}
			for _, c := range r.DNS {
				if c.Case == "" || seen[c.Case] {
					t.Errorf("DNS case %q must be named and unique", c.Case)
				}
				seen[c.Case] = true
			}
			loss := r.WorstDNSLoss()
			reason, excepted := belowDenyDespiteDNS[r.ID]
			switch {
			case r.Default == rules.ActionDeny && !loss.BreaksNames():
				t.Errorf("default deny, but broken it costs only %q: must warn", loss)
			case r.Default != rules.ActionDeny && loss.BreaksNames() && !excepted:
				t.Errorf("default %s, but broken it costs %q: must deny, or be listed with a reason in belowDenyDespiteDNS", r.Default, loss)
			case r.Default == rules.ActionDeny && excepted:
				t.Errorf("listed in belowDenyDespiteDNS (%s) but denies", reason)
			case excepted && !loss.BreaksNames():
				t.Errorf("listed in belowDenyDespiteDNS, but broken it costs only %q", loss)
			}
		})
	}
}

func TestDNSLossString(t *testing.T) {
	cases := map[rules.DNSLoss]string{
		0:                   "nothing missing",
		rules.LosesSRV:      "no SRV record for a port",
		rules.AddsStrangers: "extra A records (other workloads' pods)",
		rules.LosesPodAddresses | rules.LosesHostnames: "no A record per pod, no hostname record",
	}
	for loss, want := range cases {
		if got := loss.String(); got != want {
			t.Errorf("%08b: got %q, want %q", loss, got, want)
		}
	}
	for loss, breaks := range map[rules.DNSLoss]bool{
		0: false, rules.LosesSRV: false, rules.AddsStrangers | rules.LosesSRV: false,
		rules.LosesHostnames: true, rules.LosesPodAddresses: true, rules.LosesPods: true,
	} {
		if loss.BreaksNames() != breaks {
			t.Errorf("%q: BreaksNames() = %v, want %v", loss, !breaks, breaks)
		}
	}
}

var (
	idPattern   = regexp.MustCompile(`^HG\d{3}$`)
	namePattern = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
	knownKinds  = append([]string{rules.KindStatefulSet, rules.KindService}, rules.PodTemplateOwnerKinds...)
	knownFixes  = []string{"", rules.FixInjectService, rules.FixLabels, rules.FixNamePorts}
)

func TestDefaultRegistryEntries(t *testing.T) {
	reg := rules.Default()
	if len(reg.Rules()) == 0 {
		t.Fatal("Default() has no rules")
	}
	for _, r := range reg.Rules() {
		t.Run(r.ID, func(t *testing.T) {
			if !idPattern.MatchString(r.ID) {
				t.Errorf("ID %q must match %s", r.ID, idPattern)
			}
			if !namePattern.MatchString(r.Name) {
				t.Errorf("Name %q must be kebab-case", r.Name)
			}
			for field, text := range map[string]string{"Summary": r.Summary, "Why": r.Why, "Remediation": r.Remediation} {
				if strings.TrimSpace(text) == "" {
					t.Errorf("%s must be set", field)
				} else if !strings.HasSuffix(text, ".") {
					t.Errorf("%s must end with a period: %q", field, text)
				}
			}
			if len(r.Kinds) == 0 {
				t.Error("Kinds must not be empty")
			}
			for _, k := range r.Kinds {
				if !slices.Contains(knownKinds, k) {
					t.Errorf("unknown kind %q", k)
				}
			}
			if len(r.Operations) == 0 {
				t.Error("Operations must not be empty")
			}
			for _, op := range r.Operations {
				if op != rules.Create && op != rules.Update && op != rules.Delete {
					t.Errorf("unknown operation %q", op)
				}
			}
			if !slices.Contains(knownFixes, r.Fix) {
				t.Errorf("unknown fix %q", r.Fix)
			}
			if r.Check == nil {
				t.Error("Check must be set")
			}
			if want := "#" + strings.ToLower(r.ID); !strings.HasSuffix(r.DocsURL(), want) || !strings.HasPrefix(r.DocsURL(), rules.DocsBaseURL) {
				t.Errorf("DocsURL %q must be %s%s", r.DocsURL(), rules.DocsBaseURL, want)
			}
			for _, key := range []string{r.ID, strings.ToLower(r.ID), r.Name} {
				if got, ok := reg.Get(key); !ok || got != r {
					t.Errorf("Get(%q) does not return the rule", key)
				}
			}
		})
	}
	if _, ok := reg.Get("HG999"); ok {
		t.Error(`Get("HG999") found a rule`)
	}
	rs := reg.Rules()
	rs[0] = nil
	if reg.Rules()[0] == nil {
		t.Error("Rules() must return a copy")
	}
}

// messageKinds are the kind names a Kubernetes-style message may start with
// ("Service `x` port 80/TCP must have a name").
var messageKinds = append([]string{rules.KindStatefulSet, rules.KindService}, rules.PodTemplateOwnerKinds...)

func checkMessageStyle(msg string) error {
	first, _ := utf8.DecodeRuneInString(msg)
	switch {
	case msg == "":
		return fmt.Errorf("empty message")
	case strings.HasSuffix(msg, "."):
		return fmt.Errorf("ends with a period")
	case !strings.Contains(msg, "must"):
		return fmt.Errorf(`does not say what "must" be`)
	case strings.ContainsAny(msg, "\n\t"):
		return fmt.Errorf("contains a newline or tab")
	case unicode.IsLower(first) || first == '`':
		return nil
	}
	for _, k := range messageKinds {
		if strings.HasPrefix(msg, k+" ") {
			return nil
		}
	}
	return fmt.Errorf("starts with neither a lower-case word, a backtick nor a kind name")
}

// TestFindingMessagesStyle checks the message of every finding that the rule
// tests' error cases produce. It counts findings per rule so that a rule whose
// cases stopped producing findings fails here instead of passing vacuously;
// it also requires every rule to be exercised with both actions.
func TestFindingMessagesStyle(t *testing.T) {
	_, errorCases := allRuleCases()
	count := map[string]int{}
	actions := map[string]map[rules.Action]bool{}
	for _, tc := range errorCases {
		res := evaluateWith(t, tc.policy, tc.req, tc.objs...)
		for _, f := range res.Findings {
			count[f.Rule.ID]++
			if actions[f.Rule.ID] == nil {
				actions[f.Rule.ID] = map[rules.Action]bool{}
			}
			actions[f.Rule.ID][f.Action] = true
			if err := checkMessageStyle(f.Message()); err != nil {
				t.Errorf("%s (case %q): message %s: %q", f.Rule.ID, tc.name, err, f.Message())
			}
			if f.Error.Field == "" {
				t.Errorf("%s (case %q): finding has no field path", f.Rule.ID, tc.name)
			}
		}
	}
	for _, r := range rules.Default().Rules() {
		if count[r.ID] == 0 {
			t.Errorf("%s: no error case produced a finding", r.ID)
			continue
		}
		if !actions[r.ID][rules.ActionDeny] || !actions[r.ID][rules.ActionWarn] {
			t.Errorf("%s: error cases must produce both a deny and a warn finding, got %v", r.ID, actions[r.ID])
		}
	}
}

func TestCheckMessageStyle(t *testing.T) {
	good := []string{
		"must name a headless Service",
		"`spec.serviceName` must be set",
		"Service `x` port 80/TCP must have a name: SRV records need names",
	}
	bad := []string{"", "Must name a Service", "must name a Service.", "the selector is wrong", "Pods must have labels"}
	for _, msg := range good {
		if err := checkMessageStyle(msg); err != nil {
			t.Errorf("checkMessageStyle(%q) = %v, want nil", msg, err)
		}
	}
	for _, msg := range bad {
		if checkMessageStyle(msg) == nil {
			t.Errorf("checkMessageStyle(%q) = nil, want an error", msg)
		}
	}
}

// TestEvaluateDoesNotModifyObjects runs every rule case and checks that no
// object, under review or in the index, was changed: Lookup results are shared.
func TestEvaluateDoesNotModifyObjects(t *testing.T) {
	successCases, errorCases := allRuleCases()
	for _, tc := range append(successCases, errorCases...) {
		all := append([]runtime.Object{tc.req.Object, tc.req.OldObject}, tc.objs...)
		var before []runtime.Object
		for _, o := range all {
			if o != nil {
				before = append(before, o.DeepCopyObject())
			} else {
				before = append(before, nil)
			}
		}
		evaluateWith(t, tc.policy, tc.req, tc.objs...)
		for i, o := range all {
			if o != nil && !equality.Semantic.DeepEqual(before[i], o) {
				t.Errorf("case %q modified %s", tc.name, rules.RefOf(o))
			}
		}
	}
}
