package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// FuzzLoad feeds arbitrary bytes to the loader: it must never panic, an
// error must be a *ParseError that names the file, and what it reads must
// be what kubectl reads (kubectlReads), with the fast path and without.
func FuzzLoad(f *testing.F) {
	seeds, _ := filepath.Glob("../../rules/testdata/*/*.yaml")
	for _, p := range seeds {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Service\n  metadata: {name: a}\n"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Add([]byte("---\n---\n# only comments\n"))
	f.Add([]byte(`{"apiVersion":"apps/v1","kind":"StatefulSet","spec":{"replicas":"x"}}`))
	for _, in := range loadCases {
		f.Add([]byte(in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if ambiguous(data) {
			t.Skip("kubectl's reader itself reads this two ways")
		}
		kubectl := kubectlReads(data)
		for _, fast := range []bool{true, false} {
			fastParse = fast
			got := loaderReads(data, Options{})
			fastParse = true
			if got != kubectl {
				t.Fatalf("fast path %v:\n%s\nkubectl:\n%s", fast, got, kubectl)
			}
		}
		set, err := Parse([]Source{{Path: "fuzz.yaml", Data: data}}, Options{KeepNodes: true})
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || pe.File != "fuzz.yaml" {
				t.Fatalf("error %v (%T) is not a ParseError naming the file", err, err)
			}
			return
		}
		for _, w := range set.Warnings {
			if w.Line < 1 || w.OtherLine < 0 || w.OtherLine > w.Line {
				t.Fatalf("warning on lines %d, %d: %s", w.Line, w.OtherLine, w.Message)
			}
		}
		for _, o := range set.Objects {
			if o.Line() < 1 {
				t.Fatalf("%s has line %d", o.Ref, o.Line())
			}
			_ = o.FieldLine("spec.ports[0].name")
		}
	})
}

// dropTextPaths are fields findings name, for FuzzDropText.
var dropTextPaths = []string{"", "metadata.name", "metadata.labels", "spec.selector", "spec.selector.matchLabels", "spec.ports[0].name", "spec.ports[1].targetPort", "spec.serviceName", "spec.template.metadata.labels", "spec.template.spec.containers[0].ports", "spec.template.spec.containers.ports", "data", "items[0]"}

// FuzzDropText checks that the checker's loading (Encode, DropText) reads
// a file as loading that keeps its text and decoded objects (Minimal)
// does: the same objects, decoding to the same (as JSON), and every field
// on the same line, the documents read again from the file.
func FuzzDropText(f *testing.F) {
	seeds, _ := filepath.Glob("../../rules/testdata/*/*.yaml")
	for _, p := range seeds {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte(dropTextInput))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "in.yaml")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		kept, keptErr := Load([]string{path}, Options{Minimal: true})
		dropped, droppedErr := Load([]string{path}, Options{Encode: true, DropText: true})
		if (keptErr == nil) != (droppedErr == nil) || keptErr != nil && keptErr.Error() != droppedErr.Error() {
			t.Fatalf("errors %v and %v", keptErr, droppedErr)
		}
		if keptErr != nil {
			return
		}
		if len(kept.Objects) != len(dropped.Objects) {
			t.Fatalf("%d and %d objects", len(kept.Objects), len(dropped.Objects))
		}
		for i, o := range dropped.Objects {
			k := kept.Objects[i]
			if o.Ref != k.Ref || o.Line() != k.Line() || o.IsTyped() != k.IsTyped() {
				t.Fatalf("object %d: %s@%d and %s@%d differ", i, o.Ref, o.Line(), k.Ref, k.Line())
			}
			if got, want := asJSON(t, o.TypedObject()), asJSON(t, k.Typed); got != want {
				t.Fatalf("%s: decodes to %s, want %s", o.Ref, got, want)
			}
			if !bytes.Equal(o.Text(), k.Doc.Raw) {
				t.Fatalf("%s: Text() %q, want %q", o.Ref, o.Text(), k.Doc.Raw)
			}
			if got, want := o.FieldLines(dropTextPaths), k.FieldLines(dropTextPaths); !slices.Equal(got, want) {
				t.Fatalf("%s: lines %v, want %v", o.Ref, got, want)
			}
		}
	})
}

// asJSON is v as JSON, with the empty lists and maps and the nulls left
// out: an encoded object decodes an empty list or map as none (the API
// server stores them so too), and no rule reads the difference.
func asJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var tree any
	if err := json.Unmarshal(b, &tree); err != nil {
		t.Fatal(err)
	}
	if b, err = json.Marshal(withoutEmpty(tree)); err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// withoutEmpty drops the nulls, empty lists and empty maps of a JSON tree
// (but those of a list, which keep their places).
func withoutEmpty(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			e = withoutEmpty(e)
			if empty(e) {
				delete(v, k)
				continue
			}
			v[k] = e
		}
	case []any:
		for i, e := range v {
			v[i] = withoutEmpty(e)
		}
	}
	return v
}

func empty(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case map[string]any:
		return len(v) == 0
	case []any:
		return len(v) == 0
	}
	return false
}
