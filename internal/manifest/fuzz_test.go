package manifest

import (
	"errors"
	"os"
	"path/filepath"
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
