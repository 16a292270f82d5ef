package webhook

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/headless-guard/headless-guard/rules"
)

// Config is what the handlers share.
type Config struct {
	// Registry is the rule set; rules.Default() when nil.
	Registry *rules.Registry
	// Policy is the global policy: overrides, mode, dry-run, cluster domain.
	Policy rules.Policy
	// Fixes are the fixes enabled for every namespace (--inject, --fix-labels);
	// namespace and object labels enable them one by one.
	Fixes rules.FixOptions
	// Lookup reads other objects: *lookup.CacheLookup over the informer
	// cache (CacheLookups) in the binary, lookup.InMemory in the replay.
	Lookup Lookups
	// Namespaces reads namespace labels (*lookup.Namespaces).
	Namespaces NamespaceLabels
	// Metrics counts decisions.
	Metrics *Metrics
	// Log receives decisions at verbosity 1 and failures at 0; request
	// bodies are never logged.
	Log logr.Logger
	// Draining reports a graceful shutdown in progress: responses then ask
	// clients to close their connection, so that no keep-alive connection
	// is reused just as the server closes it.
	Draining func() bool
	// BodyBudgetBytes bounds the bytes of review bodies held at once by
	// all paths (the large lane of admissionhttp.BodyBudget); 0:
	// admissionhttp.DefaultBodyBudget.
	BodyBudgetBytes int64
}

// Lookups give the rules' view of other objects, bound to one request's
// context.
type Lookups interface {
	For(ctx context.Context) rules.Lookup
}

// NamespaceLabels reads the labels of a namespace (its opt-ins and
// policy), from a cache with a live read on a miss.
type NamespaceLabels interface {
	Labels(ctx context.Context, namespace string) (map[string]string, error)
}

func (c *Config) registry() *rules.Registry {
	if c.Registry == nil {
		return rules.Default()
	}
	return c.Registry
}

// Validator answers a validating webhook: it runs the rules and denies with
// per-field causes or allows with warnings.
type Validator struct {
	*Config
	// Name labels the metrics ("statefulsets", "services", "workloads").
	Name string
	// Kinds are the kinds this webhook was registered for.
	Kinds []string
	// Operations are the operations it was registered for.
	Operations []admissionv1.Operation

	routeOnce sync.Once
	route     route
}

var _ admission.Handler = (*Validator)(nil)

// Handle implements admission.Handler.
func (v *Validator) Handle(ctx context.Context, req admission.Request) admission.Response {
	start := time.Now()
	v.routeOnce.Do(func() { v.route = routeFor(v.Kinds, v.Operations...) })
	r, refused := v.decode(v.Name, v.route, &req)
	if refused != nil {
		return *refused
	}
	decision := DecisionError
	defer func() { v.observe(v.Name, req, decision, start) }()

	labels, err := v.Namespaces.Labels(ctx, req.Namespace)
	if err != nil {
		v.Log.Error(err, "reading namespace labels; using the global policy", "namespace", req.Namespace)
	}
	policy := v.Policy.ForNamespace(labels)
	res, err := v.registry().Evaluate(r, v.Lookup.For(ctx), &policy)
	if err != nil {
		// A failed read must never block a write: admit, say so, count it.
		v.Log.Error(err, "evaluation failed; admitting unchecked", "kind", req.Kind.Kind, "namespace", req.Namespace, "name", req.Name)
		return admission.Allowed("").WithWarnings(fmt.Sprintf("headless-guard could not check this %s (%v); it was admitted unchecked", req.Kind.Kind, err))
	}
	v.count(res)
	// With inject-service on, the reconciler creates a missing Service once
	// the API server has stored the StatefulSet: a finding that Service
	// repairs (Finding.InjectReplaces) then only says what will be created.
	injected := v.willInject(r, labels)
	warnings := make([]string, 0, len(res.Findings))
	var errs field.ErrorList
	var denied []*rules.Rule
	for _, f := range res.Findings {
		if injected != "" && f.InjectReplaces {
			warnings = append(warnings, fmt.Sprintf("%s %s: %s", f.Rule.ID, f.Error.Field, injected))
			continue
		}
		if f.Action == rules.ActionDeny {
			e := *f.Error
			e.Detail = fmt.Sprintf("%s (%s %s)", capText(e.Detail, maxDetail), f.Rule.ID, f.Rule.Name)
			errs = append(errs, &e)
			if !slices.Contains(denied, f.Rule) {
				denied = append(denied, f.Rule)
			}
			continue
		}
		warnings = append(warnings, warningText(f))
	}
	if r.Object != nil {
		if unknown := v.registry().UnknownSkips(r.Object); len(unknown) > 0 {
			warnings = append(warnings, fmt.Sprintf("metadata.annotations[%s]: %q is no rule ID: it skips nothing, and the rules still run; each entry must be a rule ID such as `HG004`, or `all`", rules.SkipAnnotation, unknown))
		}
	}
	if len(errs) == 0 {
		decision = DecisionAllowed
		if len(warnings) > 0 {
			decision = DecisionWarned
		}
		return admission.Allowed("").WithWarnings(warnings...)
	}
	ids := make([]string, len(denied))
	for i, rule := range denied {
		ids[i] = rule.ID
		warnings = append(warnings, fmt.Sprintf("%s: %s See %s", rule.ID, rule.Remediation, rule.DocsURL()))
	}
	remedy := remedies(req.Namespace, ids, &policy, rules.ControllerOwnedObject(r.Object))
	warnings = append(warnings, remedy)
	decision = DecisionDenied
	// Whoever was denied may not see the response (an operator retries
	// and logs little): the denial is logged where the guard's owner looks.
	v.Log.Info("denied", "kind", req.Kind.Kind, "namespace", req.Namespace, "name", req.Name,
		"user", capText(req.UserInfo.Username, 253), "rules", strings.Join(ids, ","), "remedy", remedy)
	status := apierrors.NewInvalid(schema.GroupKind{Group: req.Kind.Group, Kind: req.Kind.Kind}, req.Name, errs)
	// The message is what a controller logs of a failed create: it carries
	// the remedies too.
	status.ErrStatus.Message += "; " + remedy
	return admission.Response{AdmissionResponse: admissionv1.AdmissionResponse{
		Allowed:  false,
		Result:   &status.ErrStatus,
		Warnings: warnings,
	}}
}

// maxDetail bounds one finding's text in a response: messages quote values
// of the object (per-pod names, label sets) that a request may make long.
const maxDetail = 1024

// capText cuts s to at most n bytes, saying so.
func capText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "… (cut)"
}

// warningText is the admission warning of a finding that does not deny.
// When the policy made a denial a warning, it says why the object was
// admitted and that the audit follows it up, so that the reader knows it
// is not forgotten.
func warningText(f rules.Finding) string {
	text := fmt.Sprintf("%s %s: %s", f.Rule.ID, f.Error.Field, capText(f.Error.Detail, maxDetail))
	if f.Reason != "" {
		text += fmt.Sprintf(" (admitted: %s; the audit reports it if it is still wrong after the grace period)", f.Reason)
	}
	return text
}

// remedies says what admits the object, for whoever was denied: the fix
// is in each finding; these are the switches, from the narrowest.
func remedies(namespace string, ids []string, policy *rules.Policy, controllerOwned bool) string {
	var out []string
	out = append(out, fmt.Sprintf("annotate the object `%s: %q` to skip these rules for it", rules.SkipAnnotation, strings.Join(ids, ",")))
	if controllerOwned && policy.ControllerOwned == rules.ControllerOwnedEnforce {
		out = append(out, fmt.Sprintf("`kubectl label namespace %s %s=%s` to report a controller's objects instead of denying them", namespace, rules.ControllerOwnedLabel, rules.ControllerOwnedReport))
	}
	if policy.Level == rules.LevelStrict {
		out = append(out, fmt.Sprintf("`kubectl label namespace %s %s=%s` to deny only certain mistakes", namespace, rules.PolicyLabel, rules.LevelDefault))
	}
	out = append(out, fmt.Sprintf("`kubectl label namespace %s %s=%s` to only warn in this namespace", namespace, rules.ModeLabel, rules.ModeWarn))
	return "to admit it without fixing it: " + strings.Join(out, ", or ")
}

func (c *Config) count(res *rules.Result) {
	if c.Metrics == nil {
		return
	}
	for _, f := range res.Findings {
		c.Metrics.Findings.WithLabelValues(f.Rule.ID, string(f.Action)).Inc()
	}
	for _, id := range res.Skipped {
		c.Metrics.Findings.WithLabelValues(id, "skip").Inc()
	}
}

func (c *Config) observe(name string, req admission.Request, decision string, start time.Time) {
	if c.Metrics == nil {
		return
	}
	c.Metrics.Requests.WithLabelValues(name, operationLabel(req.Operation), kindLabel(req.Kind.Kind), decision).Inc()
	c.Metrics.Duration.WithLabelValues(name).Observe(time.Since(start).Seconds())
}

// decode checks that req is a review the API server could have sent on
// this route and decodes its objects. A review that is not is answered at
// once (the response is returned) and counted only as refused, under
// fixed labels: nothing it names reaches a lookup, a metric or a log.
func (c *Config) decode(name string, rt route, req *admission.Request) (*rules.Request, *admission.Response) {
	refuse := func(f *refusal) (*rules.Request, *admission.Response) {
		if c.Metrics != nil {
			c.Metrics.Refused.WithLabelValues(name, f.reason).Inc()
		}
		resp := admission.Errored(http.StatusBadRequest, fmt.Errorf("refused: %s", f.msg))
		return nil, &resp
	}
	if f := rt.admit(req); f != nil {
		return refuse(f)
	}
	r, err := decodeRequest(&req.AdmissionRequest)
	if err != nil {
		return refuse(&refusal{RefusedMalformed, err.Error()})
	}
	if f := sameNamespace(req, r); f != nil {
		return refuse(f)
	}
	return r, nil
}

// willInject returns the warning that replaces the findings a created
// Service repairs (Finding.InjectReplaces: HG002's) when the
// reconciler will create the missing Service of the StatefulSet in r, and
// "" when it will not (injection off, opted out, or no valid Service can
// be made from it).
func (c *Config) willInject(r *rules.Request, namespaceLabels map[string]string) string {
	sts, ok := r.Object.(*appsv1.StatefulSet)
	if !ok || c.Fixes.ServiceToInject(sts, namespaceLabels) == nil {
		return ""
	}
	if r.DryRun {
		return fmt.Sprintf("headless-guard would create headless Service %s/%s for StatefulSet %s (dry run: nothing created)", sts.Namespace, sts.Spec.ServiceName, sts.Name)
	}
	return fmt.Sprintf("headless-guard will create headless Service %s/%s for StatefulSet %s once it is stored (inject-service)", sts.Namespace, sts.Spec.ServiceName, sts.Name)
}

// Mutator answers a mutating webhook: it returns the JSON patch of the
// enabled fixes on CREATE, and does nothing else. A missing headless
// Service is created by the reconciler (internal/controller.Injector) from
// the StatefulSet the API server stored, never from a review.
type Mutator struct {
	*Config
	// Name labels the metrics.
	Name string
	// Kinds are the kinds this webhook was registered for.
	Kinds []string

	routeOnce sync.Once
	route     route
}

var _ admission.Handler = (*Mutator)(nil)

// Handle implements admission.Handler.
func (m *Mutator) Handle(ctx context.Context, req admission.Request) admission.Response {
	start := time.Now()
	m.routeOnce.Do(func() { m.route = routeFor(m.Kinds, admissionv1.Create) })
	r, refused := m.decode(m.Name, m.route, &req)
	if refused != nil {
		return *refused
	}
	decision := DecisionAllowed
	defer func() { m.observe(m.Name, req, decision, start) }()

	obj := r.Object.(metav1.Object)
	if obj.GetAnnotations()[rules.SkipAnnotation] == rules.SkipAll {
		return admission.Allowed("opted out")
	}
	nsLabels, err := m.Namespaces.Labels(ctx, req.Namespace)
	if err != nil {
		m.Log.Error(err, "reading namespace labels; using the global fixes", "namespace", req.Namespace)
	}
	opts := m.Fixes.For(nsLabels, obj.GetLabels())
	if !opts.InjectService && !opts.FixLabels {
		return admission.Allowed("no fix enabled")
	}
	plan, err := rules.PlanFixes(r, m.Lookup.For(ctx), opts)
	if err != nil {
		decision = DecisionError
		m.Log.Error(err, "planning fixes failed", "kind", req.Kind.Kind, "namespace", req.Namespace, "name", req.Name)
		return admission.Allowed("").WithWarnings(fmt.Sprintf("headless-guard could not fix this %s: %v", req.Kind.Kind, err))
	}
	// plan.Create is the reconciler's business; the validating webhook
	// says what it will create.
	var warnings []string
	for _, a := range plan.Applied {
		if !a.ByReconciler {
			warnings = append(warnings, fmt.Sprintf("headless-guard fixed %s: %s (%s)", a.Rule, a.Description, a.Fix))
		}
	}
	if len(plan.Patches) == 0 {
		return admission.Allowed("").WithWarnings(warnings...)
	}
	decision = DecisionPatched
	ops := make([]jsonpatch.JsonPatchOperation, len(plan.Patches))
	for i, p := range plan.Patches {
		ops[i] = jsonpatch.JsonPatchOperation{Operation: p.Op, Path: p.Path, Value: p.Value}
	}
	return admission.Patched("", ops...).WithWarnings(warnings...)
}
