package webhook

import (
	"fmt"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/headless-guard/headless-guard/rules"
)

// decodeRequest turns an admission request into a rules.Request, checking
// that each object decodes to the kind the request claims.
func decodeRequest(req *admissionv1.AdmissionRequest) (*rules.Request, error) {
	gvk := schema.GroupVersionKind{Group: req.Kind.Group, Version: req.Kind.Version, Kind: req.Kind.Kind}
	out := &rules.Request{Operation: rules.Operation(req.Operation), DryRun: req.DryRun != nil && *req.DryRun}
	switch out.Operation {
	case rules.Create, rules.Update, rules.Delete:
	default:
		return nil, fmt.Errorf("operation %q is not handled", req.Operation)
	}
	decode := func(raw []byte, what string) (runtime.Object, error) {
		if len(raw) == 0 {
			return nil, nil
		}
		decode, ok := decoders[gvk]
		if !ok {
			return nil, fmt.Errorf("headless-guard does not handle %s", gvk)
		}
		obj, err := decode(raw)
		if err != nil {
			return nil, fmt.Errorf("%s does not decode as %s: %s", what, req.Kind.Kind, cut(err.Error()))
		}
		// The API server always sends apiVersion and kind; without them any
		// JSON object would decode as any type.
		switch k := obj.GetObjectKind().GroupVersionKind(); {
		case k.Kind == "":
			return nil, fmt.Errorf("%s has no `kind`", what)
		case k.Kind != req.Kind.Kind:
			return nil, fmt.Errorf("%s is a %s, but the request is for a %s", what, cut(k.Kind), req.Kind.Kind)
		}
		return obj, nil
	}
	var err error
	if out.Object, err = decode(req.Object.Raw, "object"); err != nil {
		return nil, err
	}
	if out.OldObject, err = decode(req.OldObject.Raw, "oldObject"); err != nil {
		return nil, err
	}
	switch {
	case out.Operation == rules.Delete && out.OldObject == nil:
		return nil, fmt.Errorf("DELETE request without oldObject")
	case out.Operation != rules.Delete && out.Object == nil:
		return nil, fmt.Errorf("%s request without object", req.Operation)
	case out.Operation == rules.Update && out.OldObject == nil:
		return nil, fmt.Errorf("UPDATE request without oldObject")
	}
	// Objects in admission requests carry their namespace, except on CREATE
	// of some clients' requests: take it from the request.
	for _, o := range []runtime.Object{out.Object, out.OldObject} {
		if m, ok := o.(interface {
			GetNamespace() string
			SetNamespace(string)
			GetName() string
			SetName(string)
		}); ok {
			if m.GetNamespace() == "" {
				m.SetNamespace(req.Namespace)
			}
			if m.GetName() == "" {
				m.SetName(req.Name)
			}
		}
	}
	return out, nil
}
