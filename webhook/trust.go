package webhook

import (
	"fmt"
	"slices"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/headless-guard/headless-guard/internal/admissionhttp"
	"github.com/headless-guard/headless-guard/rules"
)

// The webhook port is reachable from any pod of the cluster, so a review
// may come from anyone. The API server only ever sends a webhook the kinds
// and operations its configuration names, for the top-level resource, with
// the object in the request's namespace (it refuses a body whose namespace
// differs before admission). A review that breaks one of those rules did
// not come from the API server: it is refused before anything is looked
// up, counted or logged under labels it chose.

// Reasons a review is refused, the values of the "reason" label of
// headless_guard_admission_refused_total.
const (
	RefusedKind        = "kind"
	RefusedOperation   = "operation"
	RefusedSubResource = "subresource"
	RefusedNamespace   = "namespace"
	RefusedMalformed   = admissionhttp.RefusedMalformed
	// RefusedName is an object or request name that is no Kubernetes name.
	RefusedName = "name"
	// The reasons below are refusals of the HTTP request before its review
	// is read (internal/admissionhttp): no more of the review than its size
	// is known.
	RefusedBusy        = admissionhttp.RefusedBusy
	RefusedTooLarge    = admissionhttp.RefusedTooLarge
	RefusedBody        = admissionhttp.RefusedBody
	RefusedContentType = admissionhttp.RefusedContentType
	RefusedVersion     = admissionhttp.RefusedVersion
)

// route is what one webhook path serves: the kinds (group, version, kind)
// and the operations its configuration in deploy/ registers.
type route struct {
	kinds []schema.GroupVersionKind
	ops   []admissionv1.Operation
}

// routeFor builds the route of kinds (rules.Kind* names) and operations.
func routeFor(kinds []string, ops ...admissionv1.Operation) route {
	r := route{ops: ops}
	for _, k := range kinds {
		gvk, ok := kindGVKs[k]
		if !ok {
			panic(fmt.Sprintf("webhook: kind %q is not in rules.Kinds", k))
		}
		r.kinds = append(r.kinds, gvk)
	}
	return r
}

// kindGVKs maps each kind the rules read (rules.Kinds) to the one version
// the webhook configurations ask the API server for.
var kindGVKs = func() map[string]schema.GroupVersionKind {
	m := map[string]schema.GroupVersionKind{}
	for _, k := range rules.Kinds {
		m[k.Name] = k.GVK
	}
	return m
}()

// refusal is a review that cannot have come from the API server.
type refusal struct {
	reason string
	msg    string
}

// admit checks the shape of req against the route, before its objects are
// decoded.
func (r route) admit(req *admission.Request) *refusal {
	gvk := schema.GroupVersionKind{Group: req.Kind.Group, Version: req.Kind.Version, Kind: req.Kind.Kind}
	switch {
	case !slices.Contains(r.kinds, gvk):
		return &refusal{RefusedKind, fmt.Sprintf("this webhook does not handle %s", cut(gvk.String()))}
	case !slices.Contains(r.ops, req.Operation):
		return &refusal{RefusedOperation, fmt.Sprintf("this webhook does not serve operation %s on %s", quote(string(req.Operation)), gvk.Kind)}
	case req.SubResource != "":
		return &refusal{RefusedSubResource, fmt.Sprintf("this webhook does not serve subresource %s", quote(req.SubResource))}
	case req.Namespace == "":
		return &refusal{RefusedNamespace, fmt.Sprintf("a %s review must name its namespace", gvk.Kind)}
	case len(validation.IsDNS1123Label(req.Namespace)) > 0:
		// Namespaces are DNS labels: what is not one was never stored, and
		// would reach lookups, logs and the response at any length.
		return &refusal{RefusedNamespace, fmt.Sprintf("the request's namespace %s is no namespace name", quote(req.Namespace))}
	case req.Name != "" && len(validation.IsDNS1123Subdomain(req.Name)) > 0:
		return &refusal{RefusedName, fmt.Sprintf("the request's name %s is no object name", quote(req.Name))}
	}
	return nil
}

// sameNamespace checks the decoded objects against the request's
// namespace: the API server refuses a body whose namespace is not the one
// of the URL before any webhook is called.
func sameNamespace(req *admission.Request, r *rules.Request) *refusal {
	for _, o := range []any{r.Object, r.OldObject} {
		m, ok := o.(interface {
			GetNamespace() string
			GetName() string
		})
		if !ok {
			continue
		}
		if m.GetNamespace() != req.Namespace {
			return &refusal{RefusedNamespace, fmt.Sprintf("the object's namespace %s is not the request's namespace %s", quote(m.GetNamespace()), quote(req.Namespace))}
		}
		// The API server sends the object's own name as the request's; on a
		// CREATE with generateName the request has none (the object may,
		// by the validating phase).
		if n := m.GetName(); (req.Name != "" && n != req.Name) || (n != "" && len(validation.IsDNS1123Subdomain(n)) > 0) {
			return &refusal{RefusedName, fmt.Sprintf("the object's name %s is not the request's name %s", quote(n), quote(req.Name))}
		}
	}
	return nil
}

// cut and quote are admissionhttp's: every value a request chose goes
// through them before a log line or a response repeats it.
var cut, quote = admissionhttp.Cut, admissionhttp.Quote

// Metric label values come from fixed sets: a value the API server never
// sends becomes "other".
const labelOther = "other"

func operationLabel(op admissionv1.Operation) string {
	switch op {
	case admissionv1.Create, admissionv1.Update, admissionv1.Delete, admissionv1.Connect:
		return string(op)
	}
	return labelOther
}

func kindLabel(kind string) string {
	if _, ok := kindGVKs[kind]; ok {
		return kind
	}
	return labelOther
}
