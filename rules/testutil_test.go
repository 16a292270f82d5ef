package rules_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/headless-guard/headless-guard/internal/testobj"
	"github.com/headless-guard/headless-guard/rules"
)

// The objects come from internal/testobj: mkStatefulSet is the `web`
// StatefulSet of the Kubernetes StatefulSet tutorial and mkService its
// headless Service `nginx-headless`; each test case states its defect as a
// tweak.
var (
	mkStatefulSet      = testobj.StatefulSet
	mkService          = testobj.Service
	mkClientService    = testobj.ClientService
	mkDeployment       = testobj.Deployment
	mkReplicaSet       = testobj.ReplicaSet
	mkDaemonSet        = testobj.DaemonSet
	mkJob              = testobj.Job
	mkCronJob          = testobj.CronJob
	mkPod              = testobj.Pod
	withServiceName    = testobj.WithServiceName
	withReplicas       = testobj.WithReplicas
	withTemplateLabels = testobj.WithTemplateLabels
	withSkip           = testobj.WithSkip
	withSelector       = testobj.WithSelector
	withPorts          = testobj.WithPorts
	withClusterIP      = testobj.WithClusterIP
	withEnv            = testobj.WithEnv
	withConfigMapVol   = testobj.WithConfigMapVolume
	mkConfigMap        = testobj.ConfigMap
	stsOwnedBy         = testobj.WithControllerOwner[*appsv1.StatefulSet]
	svcOwnedBy         = testobj.WithControllerOwner[*corev1.Service]
)

// Requests.

func create(obj runtime.Object) *rules.Request {
	return &rules.Request{Operation: rules.Create, Object: obj}
}

func update(old, obj runtime.Object) *rules.Request {
	return &rules.Request{Operation: rules.Update, Object: obj, OldObject: old}
}

func remove(old runtime.Object) *rules.Request {
	return &rules.Request{Operation: rules.Delete, OldObject: old}
}

func dryRun(req *rules.Request) *rules.Request {
	req.DryRun = true
	return req
}

// index returns an Index holding objs.
func index(objs ...runtime.Object) *rules.Index {
	x := rules.NewIndex()
	for _, obj := range objs {
		x.Add(obj)
	}
	return x
}

// evaluate runs the default registry with the zero Policy over objs.
func evaluate(t *testing.T, req *rules.Request, objs ...runtime.Object) *rules.Result {
	t.Helper()
	return evaluateWith(t, nil, req, objs...)
}

// evaluateWith runs the default registry with policy over objs.
func evaluateWith(t *testing.T, policy *rules.Policy, req *rules.Request, objs ...runtime.Object) *rules.Result {
	t.Helper()
	res, err := rules.Default().Evaluate(req, index(objs...), policy)
	if err != nil {
		t.Fatalf("Evaluate: unexpected error: %v", err)
	}
	return res
}

// want is what a test asserts about a finding: the rule, the effective
// action, the error type and the field path; never the wording.
type want struct {
	Rule   string
	Action rules.Action
	Type   field.ErrorType
	Field  string
}

// wantsOf projects findings onto what tests compare.
func wantsOf(findings []rules.Finding) []want {
	out := make([]want, 0, len(findings))
	for _, f := range findings {
		out = append(out, want{Rule: f.Rule.ID, Action: f.Action, Type: f.Error.Type, Field: f.Field()})
	}
	return out
}

// ruleCase is one request evaluated against objs (the rest of the namespace)
// under policy (nil: the zero Policy). want lists every finding of the
// request, of any rule, in catalogue order.
type ruleCase struct {
	name   string
	req    *rules.Request
	objs   []runtime.Object
	policy *rules.Policy
	want   []want
}

// runRuleCases runs successCases, which must produce no finding at all, and
// errorCases, which must produce exactly their findings.
func runRuleCases(t *testing.T, successCases, errorCases []ruleCase) {
	t.Helper()
	for _, tc := range successCases {
		t.Run("success/"+tc.name, func(t *testing.T) {
			if len(tc.want) != 0 {
				t.Fatalf("success case lists findings: %v", tc.want)
			}
			res := evaluateWith(t, tc.policy, tc.req, tc.objs...)
			if len(res.Findings) != 0 {
				t.Errorf("expected no findings, got:\n%s", describe(res.Findings))
			}
		})
	}
	for _, tc := range errorCases {
		t.Run("error/"+tc.name, func(t *testing.T) {
			if len(tc.want) == 0 {
				t.Fatalf("error case lists no findings")
			}
			res := evaluateWith(t, tc.policy, tc.req, tc.objs...)
			if diff := cmp.Diff(tc.want, wantsOf(res.Findings), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("findings mismatch (-want +got):\n%s\nfindings:\n%s", diff, describe(res.Findings))
			}
		})
	}
}

func describe(findings []rules.Finding) string {
	var s string
	for _, f := range findings {
		s += "  " + f.String() + "\n"
	}
	return s
}

// Short names for the error types the rules use.
const (
	required = field.ErrorTypeRequired
	notFound = field.ErrorTypeNotFound
	invalid  = field.ErrorTypeInvalid
	tooLong  = field.ErrorTypeTooLong
	forbid   = field.ErrorTypeForbidden
	deny     = rules.ActionDeny
	warn     = rules.ActionWarn
)

// override returns a Policy that sets one rule's action.
func override(id string, action rules.Action) *rules.Policy {
	return &rules.Policy{Overrides: map[string]rules.Action{id: action}}
}

// strict returns p (the zero Policy when nil) at LevelStrict: today's
// letter, deny whenever pods would lack their per-pod names.
func strict(p *rules.Policy) *rules.Policy {
	if p == nil {
		p = &rules.Policy{}
	}
	q := *p
	q.Level = rules.LevelStrict
	return &q
}

// objs is a readable []runtime.Object literal.
func objs(o ...runtime.Object) []runtime.Object { return o }
