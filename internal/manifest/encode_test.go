package manifest

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/headless-guard/headless-guard/internal/benchmanifests"
)

// TestEncodeKeepsTheObjects: with Options.Encode every typed object is
// kept encoded and no longer decoded (Typed is nil), and decodes to what
// Minimal keeps of it (asJSON: the rules read no difference between an
// empty map or list and none); the objects, their order and
// everything else of the set are the same. Over the rendered public charts,
// the kubectl cases and generated manifests.
func TestEncodeKeepsTheObjects(t *testing.T) {
	var buf bytes.Buffer
	if err := benchmanifests.Write(&buf, 500, 0); err != nil {
		t.Fatal(err)
	}
	sources := []Source{{Path: "generated.yaml", Data: buf.Bytes()}}
	for _, pattern := range []string{"../check/testdata/publiccharts/*.yaml", "../check/testdata/kubectl/*.yaml", "../check/testdata/charts/*/*.yaml"} {
		files, _ := filepath.Glob(pattern)
		for _, f := range files {
			src, _, err := Collect([]string{f}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			sources = append(sources, src...)
		}
	}
	if len(sources) < 20 {
		t.Fatalf("only %d inputs", len(sources))
	}
	minimal, err := Parse(sources, Options{Minimal: true})
	if err != nil {
		t.Fatal(err)
	}
	encoded, err := Parse(sources, Options{Encode: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(minimal.Objects) != len(encoded.Objects) {
		t.Fatalf("%d objects encoded, %d minimal", len(encoded.Objects), len(minimal.Objects))
	}
	typed := 0
	for i, m := range minimal.Objects {
		e := encoded.Objects[i]
		if m.Ref != e.Ref || m.Line() != e.Line() || m.IsTyped() != e.IsTyped() || m.Workload != e.Workload || m.Generated != e.Generated {
			t.Errorf("object %d: %v line %d encoded, %v line %d minimal", i, e.Ref, e.Line(), m.Ref, m.Line())
			continue
		}
		if !m.IsTyped() {
			continue
		}
		typed++
		if e.Typed != nil || !e.Enc.Valid() {
			t.Errorf("%v: kept decoded (%T), want it encoded", e.Ref, e.Typed)
			continue
		}
		if a, b := asJSON(t, e.TypedObject()), asJSON(t, m.TypedObject()); a != b {
			t.Errorf("%v decodes to\n%s\nMinimal keeps\n%s", e.Ref, a, b)
		}
	}
	if typed < 200 {
		t.Errorf("only %d typed objects compared", typed)
	}
	t.Logf("%d objects, %d typed, from %d inputs", len(minimal.Objects), typed, len(sources))
}
