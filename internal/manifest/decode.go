package manifest

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	kjson "sigs.k8s.io/json"

	"github.com/headless-guard/headless-guard/rules"
)

type lineError struct {
	line int
	err  error
}

// newTyped returns an empty typed object for the kinds the rules read.
func newTyped(apiVersion, kind string) kruntime.Object {
	switch apiVersion + "/" + kind {
	case "v1/Service":
		return &corev1.Service{}
	case "v1/Pod":
		return &corev1.Pod{}
	case "apps/v1/StatefulSet":
		return &appsv1.StatefulSet{}
	case "apps/v1/Deployment":
		return &appsv1.Deployment{}
	case "apps/v1/ReplicaSet":
		return &appsv1.ReplicaSet{}
	case "apps/v1/DaemonSet":
		return &appsv1.DaemonSet{}
	case "batch/v1/Job":
		return &batchv1.Job{}
	case "batch/v1/CronJob":
		return &batchv1.CronJob{}
	}
	return nil
}

// decodeObjects decodes a document's object, or the items of a List.
func decodeObjects(f *File, d *Document, root *yaml.Node, namespace string, item int) ([]*Object, *lineError) {
	apiVersion, kind := scalarAt(root, "apiVersion"), scalarAt(root, "kind")
	if kind == "" || apiVersion == "" {
		return nil, &lineError{d.Line + root.Line - 1, errors.New("document is not a Kubernetes object: `apiVersion` and `kind` must be set")}
	}
	if strings.HasSuffix(kind, "List") && apiVersion == "v1" {
		items := valueAt(root, "items")
		if items == nil {
			return nil, nil
		}
		if items.Kind != yaml.SequenceNode {
			return nil, &lineError{d.Line + items.Line - 1, fmt.Errorf("`items` of %s must be a list", kind)}
		}
		var out []*Object
		for i, it := range items.Content {
			if it.Kind != yaml.MappingNode {
				return nil, &lineError{d.Line + it.Line - 1, fmt.Errorf("each item of %s must be a Kubernetes object", kind)}
			}
			objs, err := decodeObjects(f, d, it, namespace, i)
			if err != nil {
				return nil, err
			}
			out = append(out, objs...)
		}
		return out, nil
	}
	obj := &Object{File: f, Doc: d, Node: root, item: item, line: root.Line, Ref: rules.ObjectRef{APIVersion: apiVersion, Kind: kind}}
	if meta := valueAt(root, "metadata"); meta != nil {
		obj.Ref.Name = scalarAt(meta, "name")
		obj.Ref.Namespace = scalarAt(meta, "namespace")
		if obj.Ref.Name == "" {
			obj.Ref.Name = scalarAt(meta, "generateName")
		}
	}
	typed := newTyped(apiVersion, kind)
	if typed == nil {
		return []*Object{obj}, nil
	}
	data, err := nodeJSON(root)
	if err != nil {
		return nil, &lineError{d.Line + root.Line - 1, err}
	}
	// Field names match case-sensitively, as the API server decodes them:
	// a `Spec:` key is an unknown field there, not the object's spec.
	if err := kjson.UnmarshalCaseSensitivePreserveInts(data, typed); err != nil {
		line := d.Line + root.Line - 1
		// sigs.k8s.io/json does not export its error types; encoding/json
		// gives the same failure typed, with the field path to point at.
		var te *json.UnmarshalTypeError
		if errors.As(json.Unmarshal(data, newTyped(apiVersion, kind)), &te) && te.Field != "" {
			if n := locate(root, te.Field); n != nil {
				line = d.Line + n.Line - 1
			}
			err = fmt.Errorf("%s %s: `%s` must be a %s, not a %s", kind, obj.Ref.Name, te.Field, te.Type, te.Value)
		} else {
			err = fmt.Errorf("%s %s: %v", kind, obj.Ref.Name, err)
		}
		return nil, &lineError{line, err}
	}
	setTyped(obj, typed, namespace)
	return []*Object{obj}, nil
}

// setTyped gives obj its decoded object, namespace defaulted.
func setTyped(obj *Object, typed kruntime.Object, namespace string) {
	m := typed.(metav1.Object)
	if m.GetNamespace() == "" {
		m.SetNamespace(namespace)
	}
	obj.Ref.Namespace = m.GetNamespace()
	typed.GetObjectKind().SetGroupVersionKind(schemaGVK(obj.Ref.APIVersion, obj.Ref.Kind))
	obj.Typed = typed
}

// scalarAt returns the scalar value of key in a mapping node, or "".
func scalarAt(m *yaml.Node, key string) string {
	if v := valueAt(m, key); v != nil && v.Kind == yaml.ScalarNode {
		return v.Value
	}
	return ""
}

// valueAt returns the value node of key in a mapping node, or nil.
func valueAt(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}
