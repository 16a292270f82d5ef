package manifest

import (
	"bytes"
	"errors"
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

// TestDropTextDefersReading checks that with DropText, Collect leaves a
// regular file for Parse to read, so that a run holds the text of the unit
// it parses only: Parse loads what Collect did not read, names a file that
// went away in between, and a chart's templates (whose text says whether
// they are skipped) are still read by Collect.
func TestDropTextDefersReading(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "in.yaml")
	chart := filepath.Join(dir, "chart")
	template := filepath.Join(chart, "templates", "svc.yaml")
	for p, text := range map[string]string{
		path:                               dropTextInput,
		filepath.Join(chart, "Chart.yaml"): "apiVersion: v2\nname: chart\nversion: 0.1.0\n",
		template:                           "apiVersion: v1\nkind: Service\nmetadata:\n  name: rendered\n",
	} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	opts := Options{DropText: true, Minimal: true}
	sources, _, err := Collect([]string{path, dir}, opts)
	if err != nil {
		t.Fatal(err)
	}
	var regular []Source
	for _, src := range sources {
		switch src.Path {
		case template:
			if !bytes.Contains(src.Data, []byte("name: rendered")) {
				t.Errorf("%s: Collect did not read a chart's template", src.Path)
			}
		default:
			if src.Data != nil || !src.deferred {
				t.Errorf("%s: Collect read a regular file (%d bytes)", src.Path, len(src.Data))
			}
			regular = append(regular, src)
		}
	}
	// in.yaml twice (as a file, and under dir), and Chart.yaml.
	if len(regular) != 3 || regular[0].Path != path || regular[2].Path != path {
		t.Fatalf("sources %v", sources)
	}
	set, err := Parse(regular[:1], opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Objects) != 3 {
		t.Fatalf("Parse of a deferred file: %d objects, want 3", len(set.Objects))
	}
	if got := set.Objects[2].FieldLine("data.PEERS"); got != 27 {
		t.Errorf("data.PEERS of a deferred file on line %d, want 27", got)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	_, err = Parse(regular[2:], opts)
	var perr *ParseError
	if !errors.As(err, &perr) || perr.File != path || !os.IsNotExist(perr.Err) {
		t.Errorf("Parse of a file removed since Collect: %v, want a ParseError naming %s", err, path)
	}
}
