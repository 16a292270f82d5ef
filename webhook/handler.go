package webhook

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/go-logr/logr"
	"gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
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
	// Lookup reads other objects.
	Lookup *CacheLookup
	// Namespaces reads namespace labels.
	Namespaces *Namespaces
	// Writer creates injected Services.
	Writer client.Writer
	// Metrics counts decisions.
	Metrics *Metrics
	// Log receives decisions at verbosity 1 and failures at 0; request
	// bodies are never logged.
	Log logr.Logger
	// Draining reports a graceful shutdown in progress: responses then ask
	// clients to close their connection, so that no keep-alive connection
	// is reused just as the server closes it.
	Draining func() bool
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
}

var _ admission.Handler = (*Validator)(nil)

// Handle implements admission.Handler.
func (v *Validator) Handle(ctx context.Context, req admission.Request) admission.Response {
	start := time.Now()
	decision := DecisionError
	defer func() { v.observe(v.Name, req, decision, start) }()

	if !slices.Contains(v.Kinds, req.Kind.Kind) {
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("webhook %q does not handle kind %q", v.Name, req.Kind.Kind))
	}
	r, err := decodeRequest(&req.AdmissionRequest)
	if err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	policy := v.Policy
	labels, err := v.Namespaces.Labels(ctx, req.Namespace)
	if err != nil {
		v.Log.Error(err, "reading namespace labels; using the global mode", "namespace", req.Namespace)
	}
	if mode, err := rules.ParseMode(labels[rules.ModeLabel]); err == nil {
		policy.Mode = mode
	}
	res, err := v.registry().Evaluate(r, v.Lookup.For(ctx), &policy)
	if err != nil {
		// A failed read must never block a write: admit, say so, count it.
		v.Log.Error(err, "evaluation failed; admitting unchecked", "kind", req.Kind.Kind, "namespace", req.Namespace, "name", req.Name)
		return admission.Allowed("").WithWarnings(fmt.Sprintf("headless-guard could not check this %s (%v); it was admitted unchecked", req.Kind.Kind, err))
	}
	v.count(res)
	warnings := make([]string, 0, len(res.Findings))
	var errs field.ErrorList
	var denied []*rules.Rule
	for _, f := range res.Findings {
		if f.Action == rules.ActionDeny {
			e := *f.Error
			e.Detail = fmt.Sprintf("%s (%s %s)", e.Detail, f.Rule.ID, f.Rule.Name)
			errs = append(errs, &e)
			if !slices.Contains(denied, f.Rule) {
				denied = append(denied, f.Rule)
			}
			continue
		}
		warnings = append(warnings, fmt.Sprintf("%s %s: %s", f.Rule.ID, f.Error.Field, f.Error.Detail))
	}
	if len(errs) == 0 {
		decision = DecisionAllowed
		if len(warnings) > 0 {
			decision = DecisionWarned
		}
		return admission.Allowed("").WithWarnings(warnings...)
	}
	for _, rule := range denied {
		warnings = append(warnings, fmt.Sprintf("%s: %s See %s", rule.ID, rule.Remediation, rule.DocsURL()))
	}
	decision = DecisionDenied
	v.Log.V(1).Info("denied", "kind", req.Kind.Kind, "namespace", req.Namespace, "name", req.Name, "findings", len(errs))
	status := apierrors.NewInvalid(schema.GroupKind{Group: req.Kind.Group, Kind: req.Kind.Kind}, req.Name, errs)
	return admission.Response{AdmissionResponse: admissionv1.AdmissionResponse{
		Allowed:  false,
		Result:   &status.ErrStatus,
		Warnings: warnings,
	}}
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
	c.Metrics.Requests.WithLabelValues(name, string(req.Operation), req.Kind.Kind, decision).Inc()
	c.Metrics.Duration.WithLabelValues(name).Observe(time.Since(start).Seconds())
}

// Mutator answers a mutating webhook: it applies the enabled fixes on CREATE
// and creates injected Services (not on dry-run).
type Mutator struct {
	*Config
	// Name labels the metrics.
	Name string
	// Kinds are the kinds this webhook was registered for.
	Kinds []string
}

var _ admission.Handler = (*Mutator)(nil)

// Handle implements admission.Handler.
func (m *Mutator) Handle(ctx context.Context, req admission.Request) admission.Response {
	start := time.Now()
	decision := DecisionError
	defer func() { m.observe(m.Name, req, decision, start) }()

	if !slices.Contains(m.Kinds, req.Kind.Kind) {
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("webhook %q does not handle kind %q", m.Name, req.Kind.Kind))
	}
	r, err := decodeRequest(&req.AdmissionRequest)
	if err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	decision = DecisionAllowed
	if r.Operation != rules.Create {
		return admission.Allowed("only CREATE is fixed")
	}
	obj := r.Object.(metav1.Object)
	if obj.GetAnnotations()[rules.SkipAnnotation] == rules.SkipAll {
		return admission.Allowed("opted out")
	}
	opts := m.Fixes
	nsLabels, err := m.Namespaces.Labels(ctx, req.Namespace)
	if err != nil {
		m.Log.Error(err, "reading namespace labels; using the global fixes", "namespace", req.Namespace)
	}
	for _, labels := range []map[string]string{nsLabels, obj.GetLabels()} {
		opts.InjectService = opts.InjectService || labels[rules.InjectLabel] == "true"
		opts.FixLabels = opts.FixLabels || labels[rules.FixLabelsLabel] == "true"
	}
	if !opts.InjectService && !opts.FixLabels {
		return admission.Allowed("no fix enabled")
	}
	plan, err := rules.PlanFixes(r, m.Lookup.For(ctx), opts)
	if err != nil {
		decision = DecisionError
		m.Log.Error(err, "planning fixes failed", "kind", req.Kind.Kind, "namespace", req.Namespace, "name", req.Name)
		return admission.Allowed("").WithWarnings(fmt.Sprintf("headless-guard could not fix this %s: %v", req.Kind.Kind, err))
	}
	var warnings []string
	for _, svc := range plan.Create {
		if r.DryRun {
			warnings = append(warnings, fmt.Sprintf("headless-guard would create headless Service %s/%s for StatefulSet %s (dry run: nothing created)", svc.Namespace, svc.Name, req.Name))
			continue
		}
		if err := m.inject(ctx, svc); err != nil {
			decision = DecisionError
			m.Log.Error(err, "creating injected Service failed", "namespace", svc.Namespace, "name", svc.Name)
			return admission.Allowed("").WithWarnings(fmt.Sprintf("headless-guard could not create headless Service %s/%s: %v", svc.Namespace, svc.Name, err))
		}
		warnings = append(warnings, fmt.Sprintf("headless-guard created headless Service %s/%s for StatefulSet %s", svc.Namespace, svc.Name, req.Name))
	}
	for _, a := range plan.Applied {
		if a.Fix != rules.FixInjectService || len(plan.Create) == 0 {
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

// inject creates an injected Service; one that already exists (a reinvoked
// webhook, or a concurrent create) is fine.
func (m *Mutator) inject(ctx context.Context, svc *corev1.Service) error {
	if m.Writer == nil {
		return fmt.Errorf("service injection is not configured")
	}
	err := m.Writer.Create(ctx, svc.DeepCopy())
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	if err == nil && m.Metrics != nil {
		m.Metrics.Injected.Inc()
	}
	return err
}
