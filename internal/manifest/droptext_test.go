package manifest

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// dropTextInput has a finding's field on several lines, a List and a
// document after a separator with a comment, so that offsets matter.
const dropTextInput = `# leading comment
apiVersion: v1
kind: Service
metadata:
  name: a
spec:
  ports:
  - port: 80
--- # the second
apiVersion: v1
kind: List
items:
- apiVersion: apps/v1
  kind: StatefulSet
  metadata: {name: b}
  spec:
    serviceName: a
    template:
      metadata:
        labels: {app: b}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: c
data:
  PEERS: b-0.a
`

// TestDropText checks that a set loaded with DropText holds no text but
// places fields on the same lines, reading its files again, and that a file
// changed since is read as no text rather than as another document.
func TestDropText(t *testing.T) {
	path := filepath.Join(t.TempDir(), "in.yaml")
	if err := os.WriteFile(path, []byte(dropTextInput), 0o644); err != nil {
		t.Fatal(err)
	}
	kept, err := Load([]string{path}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	sources, _, err := Collect([]string{path}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	dropped, err := Parse(sources, Options{DropText: true, Minimal: true})
	if err != nil {
		t.Fatal(err)
	}
	if sources[0].Data != nil {
		t.Error("Parse left the source's Data")
	}
	if len(dropped.Objects) != 3 || len(kept.Objects) != 3 {
		t.Fatalf("objects: %d and %d, want 3", len(dropped.Objects), len(kept.Objects))
	}
	paths := []string{"", "metadata.name", "spec.ports[0].port", "spec.template.metadata.labels", "data.PEERS", "spec.missing"}
	for i, o := range dropped.Objects {
		if o.Doc.Raw != nil {
			t.Errorf("%s: the document's text is kept", o.Ref)
		}
		if got, want := o.Text(), kept.Objects[i].Doc.Raw; !bytes.Equal(got, want) {
			t.Errorf("%s: Text() = %q, want %q", o.Ref, got, want)
		}
		if got, want := o.FieldLines(paths), kept.Objects[i].FieldLines(paths); !slices.Equal(got, want) {
			t.Errorf("%s: lines %v, want %v", o.Ref, got, want)
		}
	}
	// The same length, other bytes: no text, and lines fall back to the
	// object's own.
	if err := os.WriteFile(path, []byte(strings.Replace(dropTextInput, "name: a", "name: z", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	o := dropped.Objects[0]
	if got := o.Text(); got != nil {
		t.Errorf("Text() of a changed file = %q, want nil", got)
	}
	if got := o.FieldLine("spec.ports[0].port"); got != o.Line() {
		t.Errorf("FieldLine in a changed file = %d, want the object's line %d", got, o.Line())
	}
}

// TestDropTextKeepsStdin checks that standard input, which cannot be read
// again, keeps its text.
func TestDropTextKeepsStdin(t *testing.T) {
	set, err := Load([]string{Stdin}, Options{DropText: true, Stdin: strings.NewReader(dropTextInput)})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range set.Objects {
		if o.Doc.Raw == nil || !bytes.Equal(o.Text(), o.Doc.Raw) {
			t.Errorf("%s: standard input's text was dropped", o.Ref)
		}
	}
}
