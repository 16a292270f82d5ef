package manifest

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	sigsyaml "sigs.k8s.io/yaml"
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
		{"no kind beside an object", "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n---\napiVersion: v1\nmetadata: {name: a}\n", "in.yaml:5: document is not a Kubernetes object"},
		{"wrong type names field and line", "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: w}\nspec:\n  serviceName: s\n  replicas: \"3\"\n", "in.yaml:6: StatefulSet w: `spec.replicas` must be an integer (int32), not a string"},
		{"a list where an object must be", "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: w}\nspec:\n  template: [a]\n", "in.yaml:5: StatefulSet w: `spec.template` must be an object, not a list"},
		{"alias bomb is refused", bomb(8), "excessive aliasing"},
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

// TestDuplicateKeysWarn: of a key set twice, the last value is read, as
// kubectl reads it, and a warning names both lines and the object.
func TestDuplicateKeysWarn(t *testing.T) {
	cases := []struct {
		name, input string
		object      string   // the object read
		warnings    []string // line:otherLine:object: path
	}{
		{"two metadata keys, as an old etcd chart has",
			"# c\napiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: etcd\nspec:\n  serviceName: etcd\nmetadata:\n  name: etcd-2\n  namespace: db\n",
			"StatefulSet/db/etcd-2", []string{"8:4:StatefulSet db/etcd-2: `metadata`"}},
		{"a label twice, three times",
			"apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n  labels:\n    app: x\n    app: y\n    app: z\n",
			"Service/default/a", []string{"7:6:Service default/a: `metadata.labels.app`", "8:7:Service default/a: `metadata.labels.app`"}},
		{"in a List item",
			"apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Service\n  metadata: {name: a}\n- apiVersion: v1\n  kind: Service\n  metadata: {name: b}\n  spec:\n    ports:\n    - {port: 80, port: 81}\n",
			"Service/default/a Service/default/b", []string{"12:12:Service default/b: `items[1].spec.ports[0].port`"}},
		{"none", "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n", "Service/default/a", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			set, err := parseOne(t, tc.input)
			if err != nil {
				t.Fatal(err)
			}
			var objs, warns []string
			for _, o := range set.Objects {
				objs = append(objs, o.Ref.Kind+"/"+o.Ref.Namespace+"/"+o.Ref.Name)
			}
			for _, w := range set.Warnings {
				if w.Reason != ReasonDuplicateKey || w.File != "in.yaml" || w.Object == nil {
					t.Fatalf("warning %+v", w)
				}
				path := w.Message[:strings.Index(w.Message, " is set twice")]
				warns = append(warns, fmt.Sprintf("%d:%d:%s: %s", w.Line, w.OtherLine, w.Object.Ref, path))
			}
			if strings.Join(objs, " ") != tc.object {
				t.Errorf("objects %v, want %s", objs, tc.object)
			}
			if strings.Join(warns, "\n") != strings.Join(tc.warnings, "\n") {
				t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(warns, "\n"), strings.Join(tc.warnings, "\n"))
			}
		})
	}
}

// TestYAML11Scalars: scalars resolve as kubectl resolves them, by both paths.
func TestYAML11Scalars(t *testing.T) {
	in := "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec:\n  clusterIP: None\n  publishNotReadyAddresses: yes\n  ports:\n  - {port: 0x50, targetPort: 010}\n"
	for _, fast := range []bool{true, false} {
		fastParse = fast
		set, err := parseOne(t, in)
		fastParse = true
		if err != nil {
			t.Fatalf("fast %v: %v", fast, err)
		}
		svc := set.Objects[0].Typed.(*corev1.Service)
		if !svc.Spec.PublishNotReadyAddresses || svc.Spec.Ports[0].Port != 80 || svc.Spec.Ports[0].TargetPort.IntValue() != 8 {
			t.Errorf("fast %v: publishNotReadyAddresses %v, port %d, targetPort %s; want true, 80, 8", fast, svc.Spec.PublishNotReadyAddresses, svc.Spec.Ports[0].Port, svc.Spec.Ports[0].TargetPort.String())
		}
	}
}

// TestStrictDuplicates: where yaml.v3 gives no tree, the duplicate keys
// still come out of sigs.k8s.io/yaml's strict error, each on its line.
func TestStrictDuplicates(t *testing.T) {
	raw := []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  name: b\ndata: {x: \"1\", x: \"2\"}\n")
	_, err := sigsyaml.YAMLToJSONStrict(raw)
	if err == nil {
		t.Fatal("YAMLToJSONStrict accepts duplicate keys")
	}
	d := &Document{Raw: raw, Line: 10}
	var got []string
	for _, w := range strictDuplicates(&File{Path: "in.yaml"}, d, err) {
		got = append(got, fmt.Sprintf("%s:%d %s", w.File, w.Line, w.Field))
	}
	if want := "in.yaml:14 name in.yaml:15 x"; strings.Join(got, " ") != want {
		t.Errorf("got %v, want %s", got, want)
	}
}
