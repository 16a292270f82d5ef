package rules_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/headless-guard/headless-guard/rules"
)

// threeDefects is a Service that gives mkStatefulSet an HG004 denial (selector
// key tier), an HG005 warning (unnamed port) and an HG006 warning (named
// targetPort http).
func threeDefects() *corev1.Service {
	return mkService(
		withSelector(map[string]string{"app": "nginx", "tier": "web"}),
		withPorts(corev1.ServicePort{Port: 80, TargetPort: intstr.FromString("http")}),
	)
}

func TestEvaluateSkipAnnotation(t *testing.T) {
	cases := []struct {
		name        string
		skip        string
		want        []want
		wantSkipped []string
	}{{
		name: "no annotation",
		want: []want{
			{"HG004", deny, invalid, "spec.template.metadata.labels"},
			{"HG005", warn, invalid, "spec.serviceName"},
			{"HG006", warn, notFound, "spec.template.spec.containers"},
		},
	}, {
		name:        "two IDs skip exactly those",
		skip:        "HG004,HG006",
		want:        []want{{"HG005", warn, invalid, "spec.serviceName"}},
		wantSkipped: []string{"HG004", "HG006"},
	}, {
		name:        "lower-case IDs with spaces",
		skip:        " hg004 , hg006 ",
		want:        []want{{"HG005", warn, invalid, "spec.serviceName"}},
		wantSkipped: []string{"HG004", "HG006"},
	}, {
		name: "an unknown ID skips nothing",
		skip: "HG999",
		want: []want{
			{"HG004", deny, invalid, "spec.template.metadata.labels"},
			{"HG005", warn, invalid, "spec.serviceName"},
			{"HG006", warn, notFound, "spec.template.spec.containers"},
		},
	}, {
		name: "a rule that does not apply to the kind is not listed",
		skip: "HG010,HG012,HG005",
		want: []want{
			{"HG004", deny, invalid, "spec.template.metadata.labels"},
			{"HG006", warn, notFound, "spec.template.spec.containers"},
		},
		wantSkipped: []string{"HG005"},
	}, {
		// HG009 is off by default: a rule that does not run is not skipped.
		name:        "all skips every rule that applies",
		skip:        "all",
		wantSkipped: []string{"HG001", "HG002", "HG003", "HG004", "HG005", "HG006", "HG007", "HG008", "HG013"},
	}, {
		name:        "ALL in upper case",
		skip:        "ALL",
		wantSkipped: []string{"HG001", "HG002", "HG003", "HG004", "HG005", "HG006", "HG007", "HG008", "HG013"},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sts := mkStatefulSet()
			if tc.skip != "" {
				sts = mkStatefulSet(withSkip(tc.skip))
			}
			res := evaluate(t, create(sts), threeDefects())
			if diff := cmp.Diff(tc.want, wantsOf(res.Findings), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantSkipped, res.Skipped, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Skipped (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEvaluateSkipAnnotationOnDelete(t *testing.T) {
	svc := mkService(func(svc *corev1.Service) { svc.Annotations = map[string]string{rules.SkipAnnotation: "HG010"} })
	res := evaluate(t, remove(svc), mkStatefulSet())
	if len(res.Findings) != 0 {
		t.Errorf("expected no findings, got:\n%s", describe(res.Findings))
	}
	if diff := cmp.Diff([]string{"HG010"}, res.Skipped); diff != "" {
		t.Errorf("Skipped (-want +got):\n%s", diff)
	}
}

func TestEvaluatePolicy(t *testing.T) {
	cases := []struct {
		name   string
		policy *rules.Policy
		want   []want
	}{{
		name:   "nil policy uses the catalogue defaults",
		policy: nil,
		want: []want{
			{"HG004", deny, invalid, "spec.template.metadata.labels"},
			{"HG005", warn, invalid, "spec.serviceName"},
			{"HG006", warn, notFound, "spec.template.spec.containers"},
		},
	}, {
		name:   "mode enforce is the default",
		policy: &rules.Policy{Mode: rules.ModeEnforce},
		want: []want{
			{"HG004", deny, invalid, "spec.template.metadata.labels"},
			{"HG005", warn, invalid, "spec.serviceName"},
			{"HG006", warn, notFound, "spec.template.spec.containers"},
		},
	}, {
		name:   "mode warn turns denials into warnings",
		policy: &rules.Policy{Mode: rules.ModeWarn},
		want: []want{
			{"HG004", warn, invalid, "spec.template.metadata.labels"},
			{"HG005", warn, invalid, "spec.serviceName"},
			{"HG006", warn, notFound, "spec.template.spec.containers"},
		},
	}, {
		name:   "override off",
		policy: override("HG004", rules.ActionOff),
		want: []want{
			{"HG005", warn, invalid, "spec.serviceName"},
			{"HG006", warn, notFound, "spec.template.spec.containers"},
		},
	}, {
		name:   "override warn",
		policy: override("HG004", rules.ActionWarn),
		want: []want{
			{"HG004", warn, invalid, "spec.template.metadata.labels"},
			{"HG005", warn, invalid, "spec.serviceName"},
			{"HG006", warn, notFound, "spec.template.spec.containers"},
		},
	}, {
		name:   "override deny",
		policy: &rules.Policy{Overrides: map[string]rules.Action{"HG005": rules.ActionDeny, "HG006": rules.ActionDeny}},
		want: []want{
			{"HG004", deny, invalid, "spec.template.metadata.labels"},
			{"HG005", deny, invalid, "spec.serviceName"},
			{"HG006", deny, notFound, "spec.template.spec.containers"},
		},
	}, {
		name:   "mode warn wins over override deny",
		policy: &rules.Policy{Mode: rules.ModeWarn, Overrides: map[string]rules.Action{"HG005": rules.ActionDeny}},
		want: []want{
			{"HG004", warn, invalid, "spec.template.metadata.labels"},
			{"HG005", warn, invalid, "spec.serviceName"},
			{"HG006", warn, notFound, "spec.template.spec.containers"},
		},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := evaluateWith(t, tc.policy, create(mkStatefulSet()), threeDefects())
			if diff := cmp.Diff(tc.want, wantsOf(res.Findings)); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
			if len(res.Skipped) != 0 {
				t.Errorf("Skipped = %v, want none: an override is not a skip", res.Skipped)
			}
		})
	}
}

func TestEvaluateDryRun(t *testing.T) {
	cases := []struct {
		name   string
		req    *rules.Request
		objs   []runtime.Object
		policy *rules.Policy
		want   []want
	}{{
		name: "HG002 on dry-run is a warning by default",
		req:  dryRun(create(mkStatefulSet())),
		want: []want{{"HG002", warn, notFound, "spec.serviceName"}},
	}, {
		name:   "HG002 on dry-run denies with DenyMissingServiceOnDryRun",
		req:    dryRun(create(mkStatefulSet())),
		policy: &rules.Policy{DenyMissingServiceOnDryRun: true},
		want:   []want{{"HG002", deny, notFound, "spec.serviceName"}},
	}, {
		name:   "DenyMissingServiceOnDryRun does not beat mode warn",
		req:    dryRun(create(mkStatefulSet())),
		policy: &rules.Policy{DenyMissingServiceOnDryRun: true, Mode: rules.ModeWarn},
		want:   []want{{"HG002", warn, notFound, "spec.serviceName"}},
	}, {
		name:   "other rules deny on dry-run as on a real request",
		req:    dryRun(create(mkStatefulSet())),
		objs:   []runtime.Object{mkService(withClusterIP(""))},
		policy: strict(nil),
		want:   []want{{"HG003", deny, invalid, "spec.serviceName"}},
	}, {
		name: "evidence of use denies on dry-run as on a real request",
		req:  dryRun(create(mkStatefulSet(withEnv("PEERS", "web-0.nginx-headless")))),
		objs: []runtime.Object{mkService(withClusterIP(""))},
		want: []want{{"HG003", deny, invalid, "spec.serviceName"}},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := evaluateWith(t, tc.policy, tc.req, tc.objs...)
			if diff := cmp.Diff(tc.want, wantsOf(res.Findings)); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
		})
	}
}

// failingLookup is an Index whose reads of one kind fail, the way an
// informer cache miss followed by a failed live GET does.
type failingLookup struct {
	*rules.Index
	serviceErr, statefulSetsErr error
}

func (f failingLookup) Service(namespace, name string) (*corev1.Service, error) {
	if f.serviceErr != nil {
		return nil, f.serviceErr
	}
	return f.Index.Service(namespace, name)
}

func (f failingLookup) StatefulSetsFor(namespace, serviceName string) ([]*appsv1.StatefulSet, error) {
	if f.statefulSetsErr != nil {
		return nil, f.statefulSetsErr
	}
	return f.Index.StatefulSetsFor(namespace, serviceName)
}

func TestEvaluateLookupError(t *testing.T) {
	errAPI := errors.New("services \"nginx-headless\" is forbidden: connection refused")
	cases := []struct {
		name     string
		req      *rules.Request
		lookup   failingLookup
		wantRule string
	}{{
		name:     "StatefulSet create: a failed Service read is not a missing Service",
		req:      create(mkStatefulSet()),
		lookup:   failingLookup{Index: index(), serviceErr: errAPI},
		wantRule: "HG002",
	}, {
		name:     "StatefulSet update: the re-evaluation of the stored object fails too",
		req:      update(mkStatefulSet(), mkStatefulSet(withReplicas(4))),
		lookup:   failingLookup{Index: index(mkService()), serviceErr: errAPI},
		wantRule: "HG002",
	}, {
		name:     "Service delete: a failed StatefulSet list",
		req:      remove(mkService()),
		lookup:   failingLookup{Index: index(mkStatefulSet()), statefulSetsErr: errAPI},
		wantRule: "HG010",
	}, {
		name:     "Service update: a failed StatefulSet list",
		req:      update(mkService(), mkService(withSelector(nil))),
		lookup:   failingLookup{Index: index(mkStatefulSet()), statefulSetsErr: errAPI},
		wantRule: "HG011",
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := rules.Default().Evaluate(tc.req, tc.lookup, nil)
			if res != nil {
				t.Errorf("Evaluate returned findings on a failed lookup:\n%s", describe(res.Findings))
			}
			var lerr *rules.LookupError
			if !errors.As(err, &lerr) {
				t.Fatalf("Evaluate error = %v (%T), want a *rules.LookupError", err, err)
			}
			if lerr.Rule == nil || lerr.Rule.ID != tc.wantRule {
				t.Errorf("LookupError.Rule = %v, want %s", lerr.Rule, tc.wantRule)
			}
			if !errors.Is(err, errAPI) {
				t.Errorf("LookupError does not wrap the lookup's error: %v", err)
			}
			if !strings.Contains(err.Error(), tc.wantRule) || !strings.Contains(err.Error(), errAPI.Error()) {
				t.Errorf("error %q must name the rule and the cause", err)
			}
		})
	}
}

func TestEvaluateRequestWithoutObject(t *testing.T) {
	if _, err := rules.Default().Evaluate(&rules.Request{Operation: rules.Delete}, index(), nil); err == nil {
		t.Error("Evaluate of a request with no object: want an error")
	}
}

func TestEvaluateUnsupportedKind(t *testing.T) {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "default"}}
	res := evaluate(t, create(cm), mkStatefulSet())
	if len(res.Findings) != 0 || len(res.Skipped) != 0 {
		t.Errorf("a ConfigMap must not be evaluated: %+v", res)
	}
}

func TestEvaluateFindingIdentity(t *testing.T) {
	// HG002 and HG007 from one StatefulSet: catalogue order, object reference,
	// and the rule's docs.
	sts := mkStatefulSet(withName(strings.Repeat("a", 53)))
	sts.TypeMeta = metav1.TypeMeta{} // decoders often leave TypeMeta empty
	res := evaluateWith(t, strict(nil), create(sts))
	if diff := cmp.Diff([]want{
		{"HG002", deny, notFound, "spec.serviceName"},
		{"HG007", deny, tooLong, "metadata.name"},
	}, wantsOf(res.Findings)); diff != "" {
		t.Fatalf("findings (-want +got):\n%s", diff)
	}
	wantRef := rules.ObjectRef{APIVersion: "apps/v1", Kind: rules.KindStatefulSet, Namespace: "default", Name: sts.Name}
	for _, f := range res.Findings {
		if f.Object != wantRef {
			t.Errorf("%s: Object = %+v, want %+v", f.Rule.ID, f.Object, wantRef)
		}
		if f.Message() != f.Error.Detail || f.Field() != f.Error.Field {
			t.Errorf("%s: Message/Field do not return the field error's", f.Rule.ID)
		}
		if s := f.String(); !strings.HasPrefix(s, f.Rule.ID+" deny StatefulSet default/"+sts.Name+": "+f.Field()) {
			t.Errorf("String() = %q", s)
		}
	}
	if !res.Denied() || len(res.Denials()) != 2 || len(res.Warnings()) != 0 {
		t.Errorf("Denied=%v Denials=%d Warnings=%d, want true 2 0", res.Denied(), len(res.Denials()), len(res.Warnings()))
	}

	warned := evaluateWith(t, &rules.Policy{Mode: rules.ModeWarn}, create(sts))
	if warned.Denied() || len(warned.Denials()) != 0 || len(warned.Warnings()) != 2 {
		t.Errorf("mode warn: Denied=%v Denials=%d Warnings=%d, want false 0 2", warned.Denied(), len(warned.Denials()), len(warned.Warnings()))
	}
}

func TestPolicySetOverride(t *testing.T) {
	cases := []struct {
		spec    string
		wantID  string
		want    rules.Action
		wantErr []string // substrings of the error
	}{
		{spec: "HG004=warn", wantID: "HG004", want: rules.ActionWarn},
		{spec: "selector-matches-pods=off", wantID: "HG004", want: rules.ActionOff},
		{spec: "hg009=deny", wantID: "HG009", want: rules.ActionDeny},
		{spec: " HG001 = DENY ", wantID: "HG001", want: rules.ActionDeny},
		{spec: "HG999=warn", wantErr: []string{`"HG999=warn"`, `unknown rule "HG999"`, "HG001"}},
		{spec: "HG004", wantErr: []string{`"HG004"`, "must be RULE=deny|warn|off"}},
		{spec: "HG004=block", wantErr: []string{`"HG004=block"`, `unknown action "block"`, "deny, warn, off"}},
		{spec: "=warn", wantErr: []string{"unknown rule"}},
	}
	for _, tc := range cases {
		t.Run(tc.spec, func(t *testing.T) {
			var p rules.Policy
			err := p.SetOverride(rules.Default(), tc.spec)
			if tc.wantErr != nil {
				if err == nil {
					t.Fatalf("SetOverride(%q): want an error", tc.spec)
				}
				for _, s := range tc.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not contain %q", err, s)
					}
				}
				if len(p.Overrides) != 0 {
					t.Errorf("a rejected override changed the policy: %v", p.Overrides)
				}
				return
			}
			if err != nil {
				t.Fatalf("SetOverride(%q): %v", tc.spec, err)
			}
			if diff := cmp.Diff(map[string]rules.Action{tc.wantID: tc.want}, p.Overrides); diff != "" {
				t.Errorf("Overrides (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPolicyConfigured(t *testing.T) {
	hg009, _ := rules.Default().Get("HG009")
	var zero rules.Policy
	if got := zero.Configured(hg009); got != rules.ActionOff {
		t.Errorf("zero Policy: HG009 configured %q, want off", got)
	}
	p := override("HG009", rules.ActionWarn)
	if got := p.Configured(hg009); got != rules.ActionWarn {
		t.Errorf("override: HG009 configured %q, want warn", got)
	}
}

func TestParseActionAndMode(t *testing.T) {
	for in, want := range map[string]rules.Action{"deny": rules.ActionDeny, " Warn ": rules.ActionWarn, "OFF": rules.ActionOff} {
		if got, err := rules.ParseAction(in); err != nil || got != want {
			t.Errorf("ParseAction(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "block", "enforce"} {
		if _, err := rules.ParseAction(in); err == nil {
			t.Errorf("ParseAction(%q): want an error", in)
		}
	}
	for in, want := range map[string]rules.Mode{"enforce": rules.ModeEnforce, "WARN": rules.ModeWarn} {
		if got, err := rules.ParseMode(in); err != nil || got != want {
			t.Errorf("ParseMode(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "deny", "audit"} {
		if _, err := rules.ParseMode(in); err == nil {
			t.Errorf("ParseMode(%q): want an error", in)
		}
	}
}

// TestPairDefectsShareKey evaluates both sides of a StatefulSet/Service pair,
// as the offline checker does: each defect must carry the same Key on both
// sides, and exactly one side must be Primary.
func TestPairDefectsShareKey(t *testing.T) {
	cases := []struct {
		rule           string
		sts            *appsv1.StatefulSet
		svc            *corev1.Service
		others         []runtime.Object
		wantSTSPrimary bool
	}{{
		rule:           "HG004",
		sts:            mkStatefulSet(),
		svc:            mkService(withSelector(map[string]string{"app": "nginx", "tier": "web"})),
		wantSTSPrimary: true,
	}, {
		rule:           "HG005",
		sts:            mkStatefulSet(),
		svc:            mkService(withPorts(corev1.ServicePort{Port: 80})),
		wantSTSPrimary: false,
	}, {
		rule:           "HG006",
		sts:            mkStatefulSet(),
		svc:            mkService(withPorts(corev1.ServicePort{Name: "web", Port: 80, TargetPort: intstr.FromString("http")})),
		wantSTSPrimary: true,
	}, {
		rule:           "HG008",
		sts:            mkStatefulSet(),
		svc:            mkService(),
		others:         objs(mkDeployment(nginxDeployment)),
		wantSTSPrimary: true,
	}}
	for _, tc := range cases {
		t.Run(tc.rule, func(t *testing.T) {
			all := append(objs(tc.sts, tc.svc), tc.others...)
			stsSide := findingsOf(evaluate(t, create(tc.sts), all...), tc.rule)
			svcSide := findingsOf(evaluate(t, create(tc.svc), all...), tc.rule)
			if len(stsSide) != 1 || len(svcSide) != 1 {
				t.Fatalf("want one %s finding per side, got %d on the StatefulSet and %d on the Service", tc.rule, len(stsSide), len(svcSide))
			}
			if stsSide[0].Key == "" || stsSide[0].Key != svcSide[0].Key {
				t.Errorf("keys differ: StatefulSet side %q, Service side %q", stsSide[0].Key, svcSide[0].Key)
			}
			if stsSide[0].Primary != tc.wantSTSPrimary || svcSide[0].Primary == tc.wantSTSPrimary {
				t.Errorf("Primary: StatefulSet side %v, Service side %v; want the StatefulSet side %v and the other not",
					stsSide[0].Primary, svcSide[0].Primary, tc.wantSTSPrimary)
			}
		})
	}
}

func findingsOf(res *rules.Result, rule string) []rules.Finding {
	var out []rules.Finding
	for _, f := range res.Findings {
		if f.Rule.ID == rule {
			out = append(out, f)
		}
	}
	return out
}
