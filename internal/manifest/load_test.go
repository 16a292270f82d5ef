package manifest

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

func parseOne(t *testing.T, data string) (*Set, error) {
	t.Helper()
	return Parse([]Source{{Path: "in.yaml", Data: []byte(data)}}, Options{})
}

func TestParseShapes(t *testing.T) {
	cases := []struct {
		name    string
		input   string
		objects []string // kind/namespace/name@line
	}{
		{"multi-document with comments and separators",
			"# leading comment\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: a\n--- # trailing\n\n---\napiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: b\n  namespace: prod\n",
			[]string{"Service/default/a@3", "StatefulSet/prod/b@10"}},
		{"JSON document",
			`{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "j"}}`,
			[]string{"Service/default/j@1"}},
		{"kind List unwraps items",
			"apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Service\n  metadata: {name: a}\n- apiVersion: apps/v1\n  kind: StatefulSet\n  metadata: {name: b}\n",
			[]string{"Service/default/a@4", "StatefulSet/default/b@7"}},
		{"other kinds are kept but not decoded",
			"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: b}\n",
			[]string{"ConfigMap//c@1"}},
		{"merge keys and anchors",
			"apiVersion: v1\nkind: Service\nmetadata: {name: m}\nspec:\n  selector: &sel {app: x}\n  ports:\n  - <<: {port: 80}\n    name: web\n",
			[]string{"Service/default/m@1"}},
		{"CRLF line endings",
			"apiVersion: v1\r\nkind: Service\r\nmetadata:\r\n  name: w\r\n---\r\napiVersion: v1\r\nkind: Service\r\nmetadata:\r\n  name: v\r\n",
			[]string{"Service/default/w@1", "Service/default/v@6"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			set, err := parseOne(t, tc.input)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, o := range set.Objects {
				got = append(got, o.Ref.Kind+"/"+o.Ref.Namespace+"/"+o.Ref.Name+"@"+strconv.Itoa(o.Line()))
			}
			if strings.Join(got, " ") != strings.Join(tc.objects, " ") {
				t.Errorf("got %v, want %v", got, tc.objects)
			}
		})
	}
}

func TestParseMergeKeyValues(t *testing.T) {
	set, err := parseOne(t, "apiVersion: v1\nkind: Service\nmetadata: {name: m}\nspec:\n  ports:\n  - <<: {port: 80, name: base}\n    name: web\n")
	if err != nil {
		t.Fatal(err)
	}
	if s := strings.TrimSpace(describePorts(set.Objects[0].Typed)); s != "web:80" {
		t.Errorf("merged port = %q, want web:80 (explicit keys win over merged ones)", s)
	}
}

// A key whose case differs from the field name is an unknown field to the
// API server, so it must not fill the field here either (encoding/json
// would match `Spec` to spec).
func TestParseFieldNamesAreCaseSensitive(t *testing.T) {
	set, err := parseOne(t, "apiVersion: v1\nkind: Service\nmetadata: {name: m}\nSpec:\n  ports:\n  - {port: 80, name: web}\n")
	if err != nil {
		t.Fatal(err)
	}
	if s := describePorts(set.Objects[0].Typed); s != "" {
		t.Errorf("ports = %q, want none: `Spec` is not `spec`", s)
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		name, input, want string
	}{
		{"bad YAML on a later document", "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: [unclosed\n", "in.yaml:8: invalid YAML"},
		{"not a mapping", "apiVersion: v1\nkind: Service\n---\n- a\n- b\n", "in.yaml:4: document must be a Kubernetes object"},
		{"no kind", "apiVersion: v1\nmetadata: {name: a}\n", "in.yaml:1: document is not a Kubernetes object"},
		{"wrong type names field and line", "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: w}\nspec:\n  serviceName: s\n  replicas: \"3\"\n", "in.yaml:6: StatefulSet w: `spec.replicas` must be a int32, not a string"},
		{"alias bomb is refused", bomb(8), "expands to more than"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			_, err := parseOne(t, tc.input)
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *ParseError", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to contain %q", err, tc.want)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
}

// bomb builds a document whose aliases expand to 10^levels nodes.
func bomb(levels int) string {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: Service\nmetadata: {name: x}\nl0: &l0 [x,x,x,x,x,x,x,x,x,x]\n")
	for i := 1; i < levels; i++ {
		p := "*l" + strconv.Itoa(i-1)
		b.WriteString("l" + strconv.Itoa(i) + ": &l" + strconv.Itoa(i) + " [" + strings.TrimSuffix(strings.Repeat(p+",", 10), ",") + "]\n")
	}
	return b.String()
}

func TestFieldLineAfterDroppingNodes(t *testing.T) {
	set, err := parseOne(t, "# c\napiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Service\n  metadata: {name: a}\n  spec:\n    ports:\n    - port: 80\n    - port: 81\n      name: b\n")
	if err != nil {
		t.Fatal(err)
	}
	o := set.Objects[0]
	if o.Node != nil {
		t.Fatal("nodes must be dropped without KeepNodes")
	}
	for path, want := range map[string]int{"spec.ports[1].name": 12, "spec.ports[0]": 10, "spec.selector": 8, "": 5} {
		if got := o.FieldLine(path); got != want {
			t.Errorf("FieldLine(%q) = %d, want %d", path, got, want)
		}
	}
}
