package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	kjson "sigs.k8s.io/json"

	"github.com/headless-guard/headless-guard/rules"
)

// maxDepth bounds the recursion over a document's tree on hostile input.
const maxDepth = 1000

type lineError struct {
	line int
	err  error
	// notObject: the document is no Kubernetes object at all.
	notObject bool
}

// TypedVersion is the apiVersion in which the loader decodes objects of
// kind for the rules, or "" for a kind the rules do not read (rules.Kinds).
func TypedVersion(kind string) string {
	if k := rules.KindInfoByName(kind); k != nil {
		return k.GVK.GroupVersion().String()
	}
	return ""
}

// newTyped returns an empty typed object for the kinds the rules read.
func newTyped(apiVersion, kind string) kruntime.Object {
	if k := rules.KindInfoByName(kind); k != nil && k.GVK.GroupVersion().String() == apiVersion {
		return k.New()
	}
	return nil
}

// header is what decodeObjects reads of an object before decoding it.
type header struct {
	APIVersion json.RawMessage `json:"apiVersion"`
	Kind       json.RawMessage `json:"kind"`
	Metadata   json.RawMessage `json:"metadata"`
	Items      json.RawMessage `json:"items"`
}

type metaHeader struct {
	Name         json.RawMessage `json:"name"`
	Namespace    json.RawMessage `json:"namespace"`
	GenerateName json.RawMessage `json:"generateName"`
}

// jsonString is the value of a JSON string, or "" for anything else
// (kubectl refuses an `apiVersion` that is not a string).
func jsonString(raw json.RawMessage) string {
	var s string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// decodeObjects decodes the object of a document, or the items of a List,
// from its JSON (data, sigs.k8s.io/yaml's); node is the object's yaml.v3
// tree when there is one, for lines, and tree the document's, parsed when
// lines are needed (a List, an error) and node is nil.
func decodeObjects(f *File, d *Document, data []byte, node *yaml.Node, tree *lazyTree, namespace string, item int) ([]*Object, *lineError) {
	line := d.Line + contentLine(node, d.Raw) - 1
	var h header
	if err := kjson.UnmarshalCaseSensitivePreserveInts(data, &h); err != nil {
		return nil, &lineError{line: line, err: fmt.Errorf("document must be a Kubernetes object: %v", err)}
	}
	apiVersion, kind := jsonString(h.APIVersion), jsonString(h.Kind)
	if kind == "" || apiVersion == "" {
		return nil, &lineError{line: line, err: errors.New("document is not a Kubernetes object: `apiVersion` and `kind` must be set"), notObject: item < 0 && (len(h.Kind) == 0 || len(h.APIVersion) == 0)}
	}
	// kubectl's decoder (apimachinery's unstructured scheme) reads any
	// object with `items` as a list, whatever its kind: items that are not
	// a list fail it. A v1 List's items are the objects.
	isList := strings.HasSuffix(kind, "List") && apiVersion == "v1"
	var raws []json.RawMessage
	var items *yaml.Node
	if len(h.Items) > 0 && string(h.Items) != "null" && (isList || h.Items[0] != '[') {
		if node == nil {
			node = tree.get()
		}
		items = valueAt(node, "items")
		if h.Items[0] != '[' || json.Unmarshal(h.Items, &raws) != nil {
			if items != nil {
				line = d.Line + items.Line - 1
			}
			return nil, &lineError{line: line, err: fmt.Errorf("`items` of %s must be a list", kind)}
		}
	}
	if isList {
		if items != nil && (items.Kind != yaml.SequenceNode || len(items.Content) != len(raws)) {
			items = nil // yaml.v3 reads it otherwise: no lines for the items
		}
		var out []*Object
		for i, raw := range raws {
			var it *yaml.Node
			if items != nil {
				it = items.Content[i]
			}
			if len(raw) == 0 || raw[0] != '{' {
				l := line
				if it != nil {
					l = d.Line + it.Line - 1
				}
				return nil, &lineError{line: l, err: fmt.Errorf("each item of %s must be a Kubernetes object", kind)}
			}
			objs, err := decodeObjects(f, d, raw, it, nil, namespace, i)
			if err != nil {
				return nil, err
			}
			out = append(out, objs...)
		}
		return out, nil
	}
	obj := &Object{File: f, Doc: d, Node: node, item: item, line: line - d.Line + 1, Ref: rules.ObjectRef{APIVersion: apiVersion, Kind: kind}}
	if len(h.Metadata) > 0 && h.Metadata[0] == '{' {
		var m metaHeader
		if kjson.UnmarshalCaseSensitivePreserveInts(h.Metadata, &m) == nil {
			obj.Ref.Name = jsonString(m.Name)
			obj.Ref.Namespace = jsonString(m.Namespace)
			if obj.Ref.Name == "" {
				obj.Ref.Name = jsonString(m.GenerateName)
				obj.Generated = obj.Ref.Name != ""
			}
		}
	}
	typed := newTyped(apiVersion, kind)
	if typed == nil {
		obj.Workload = hasPodTemplate(data)
		return []*Object{obj}, nil
	}
	// Field names match case-sensitively, as the API server decodes them:
	// a `Spec:` key is an unknown field there, not the object's spec.
	if err := kjson.UnmarshalCaseSensitivePreserveInts(data, typed); err != nil {
		// sigs.k8s.io/json does not export its error types; encoding/json
		// gives the same failure typed, with the field path to point at.
		var te *json.UnmarshalTypeError
		if errors.As(json.Unmarshal(data, newTyped(apiVersion, kind)), &te) && te.Field != "" {
			if node == nil && item < 0 {
				node = tree.get()
			}
			if node != nil {
				line = d.Line + locate(node, te.Field).Line - 1
			}
			err = fmt.Errorf("%s %s: `%s` must be %s, not %s", kind, obj.Ref.Name, te.Field, goTypeName(te.Type), jsonTypeName(te.Value))
		} else {
			err = fmt.Errorf("%s %s: %v", kind, obj.Ref.Name, err)
		}
		return nil, &lineError{line: line, err: err}
	}
	setTyped(obj, typed, namespace)
	return []*Object{obj}, nil
}

// hasPodTemplate reports whether an object's JSON has containers where a
// workload keeps them: `spec.containers` (a Pod), `spec.template.spec`
// (most controllers) or `spec.jobTemplate.spec.template.spec` (a CronJob).
func hasPodTemplate(data []byte) bool {
	if !bytes.Contains(data, []byte(`"containers"`)) {
		return false
	}
	type podSpec struct {
		Containers json.RawMessage `json:"containers"`
	}
	type template struct {
		Spec *podSpec `json:"spec"`
	}
	var o struct {
		Spec *struct {
			Containers  json.RawMessage `json:"containers"`
			Template    *template       `json:"template"`
			JobTemplate *struct {
				Spec *struct {
					Template *template `json:"template"`
				} `json:"spec"`
			} `json:"jobTemplate"`
		} `json:"spec"`
	}
	if kjson.UnmarshalCaseSensitivePreserveInts(data, &o) != nil || o.Spec == nil {
		return false
	}
	list := func(raw json.RawMessage) bool { return len(raw) > 0 && raw[0] == '[' }
	switch {
	case list(o.Spec.Containers):
		return true
	case o.Spec.Template != nil && o.Spec.Template.Spec != nil && list(o.Spec.Template.Spec.Containers):
		return true
	case o.Spec.JobTemplate != nil && o.Spec.JobTemplate.Spec != nil && o.Spec.JobTemplate.Spec.Template != nil &&
		o.Spec.JobTemplate.Spec.Template.Spec != nil && list(o.Spec.JobTemplate.Spec.Template.Spec.Containers):
		return true
	}
	return false
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

// valueAt returns the value node of key in a mapping node, or nil; of a
// key set twice, the last, which is the one kubectl reads.
func valueAt(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := len(m.Content) - 2; i >= 0; i -= 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// duplicateKeys finds the keys set twice in a mapping of the document's
// tree. kubectl keeps the last value without a word (sigs.k8s.io/yaml, as
// go-yaml v2 decodes into a map); each repetition is a warning naming both
// lines, and the value kept is the one the checker reads too.
func duplicateKeys(f *File, d *Document, root *yaml.Node) []Warning {
	var out []Warning
	objectOf := func(item int) *Object {
		for _, o := range d.Objects {
			if o.item == item {
				return o
			}
		}
		return nil
	}
	var walk func(n *yaml.Node, path string, item, depth int)
	walk = func(n *yaml.Node, path string, item, depth int) {
		if depth > maxDepth {
			return
		}
		switch n.Kind {
		case yaml.SequenceNode:
			for i, c := range n.Content {
				it := item
				if depth == 1 && path == "items" {
					it = i
				}
				walk(c, fmt.Sprintf("%s[%d]", path, i), it, depth+1)
			}
		case yaml.MappingNode:
			last := map[string]*yaml.Node{}
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i]
				if k.Kind != yaml.ScalarNode || k.Tag == "!!merge" {
					continue
				}
				p := k.Value
				if path != "" {
					p = path + "." + k.Value
				}
				if prev := last[k.Value]; prev != nil {
					first, second := d.Line+prev.Line-1, d.Line+k.Line-1
					where := fmt.Sprintf("at lines %d and %d", first, second)
					if first == second {
						where = fmt.Sprintf("on line %d", first)
					}
					out = append(out, Warning{
						Reason: ReasonDuplicateKey, File: f.Path, Line: second, OtherLine: first, Field: p,
						Message: fmt.Sprintf("`%s` is set twice, %s: kubectl applies the last value and drops the other; a key must appear once in a mapping", p, where),
						Object:  objectOf(item),
					})
				}
				last[k.Value] = k
				walk(n.Content[i+1], p, item, depth+1)
			}
		}
	}
	walk(root, "", -1, 0)
	return out
}

// goTypeName names the type a field has, as the API reference does: "an
// integer (int32)", "a boolean", "a list".
func goTypeName(t reflect.Type) string {
	if t == nil {
		return "a value of another type"
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return fmt.Sprintf("an integer (%s)", t.Kind())
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "a boolean"
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct, reflect.Pointer:
		return "an object"
	}
	return "a " + t.String()
}

// jsonTypeName names what encoding/json found ("number", "array"...).
func jsonTypeName(v string) string {
	switch v {
	case "array":
		return "a list"
	case "object":
		return "an object"
	case "bool":
		return "a boolean"
	case "":
		return "another type"
	}
	if strings.HasPrefix(v, "number") {
		return "a number"
	}
	return "a " + v
}
