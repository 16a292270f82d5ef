package manifest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
	kjson "sigs.k8s.io/json"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/headless-guard/headless-guard/internal/benchmanifests"
)

// fastCases are documents at the edges of the fast path's part of YAML:
// it takes some and leaves others to yaml.v3; where it takes one, it must
// read it as yaml.v3 does.
var fastCases = []string{
	"apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n",
	"# c\n\napiVersion: v1 # c\nkind: Service\nmetadata: {name: a, namespace: b}\n",
	"  apiVersion: v1\n  kind: Service\n  metadata:\n      name: a\n",
	"apiVersion: v1\nkind: Service\nmetadata:\n  generateName: g-\nspec:\n  ports:\n  - port: 80\n    name: web\n  -   port: 81\n      name: x\n  - {port: 82}\n",
	"apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec:\n  ports:\n    - port: 80\n      targetPort: http\n    -\n      port: 81\n    -\n    - 3\n",
	"apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec:\n  ports:\n  - name:\n    port:\n  x:\n",
	"a:\n- b: 1\n  c:\n  - 1\n  - 2\n  d: 3\ne: 4\n",
	"a:\n- b:\n  c: 1\n",
	"a:\n  - b\n  - c\n d: 1\n",
	"a:\n    b: 1\n  c: 2\n",
	"a: 1\n  b: 2\n",
	"a: b\n  c\n",
	"a:\n  b\n",
	"- a\n- b\n",
	"a: - b\n",
	"a: b: c\n",
	"a: b:\n",
	"a: b:c\n",
	"a: http://x:80/y#z\n",
	"a: b #c\nd: e#f\n",
	"a: 'it''s'\nb: \"q # x\"\nc: ''\nd: \"\"\n",
	"a: 'it''s' x\n",
	"a: \"x\"#c\n",
	"a: \"x\\ny\"\n",
	"a: \"x\n  y\"\n",
	"a: [1, 2, \"3\", 'four', five six, 0x10, 1e3, .5, -1, +2, 0o17, 1_000, true, no, ~, null, 2024-01-02, .inf]\n",
	"a: [250m, 512Mi, 10Gi, 1e3, 1E3, 0x1F, 0X1f, 0o17, 0b101, -0b11, 1_000, 1.5e-3, +.5, -12, 0xg, 1:20, 1a, 12abc, 1.2.3, 0b12, -0x, 190:20:30]\n",
	"a: [[], {}, [a, [b]], {x: y, z: [1]}]\n",
	"a: [a, b, ]\n",
	"a: [a b, c]\n",
	"a: [a,b]\n",
	"a: {a: b, a: c}\n",
	"a: {a:b}\n",
	"a: {\"a\": b}\n",
	"a: {a: }\n",
	"a: [a\n  , b]\n",
	"a: [a] b\n",
	"a: [a] # c\n",
	"a: [-a, - b]\n",
	"a: [-]\n",
	"a: [a: b]\n",
	"a: [a#b]\n",
	"a: 1\na: 2\n",
	"a:\n  b: 1\n  b: 2\n",
	"<<: {a: 1}\n",
	"a: <<\n",
	"a: &x 1\nb: *x\n",
	"a: !!str 1\n",
	"a: |\n  x\n",
	"a: >\n  x\n",
	"a: @x\n",
	"a: `x\n",
	"a: %x\n",
	"a: ?x\n",
	"a: :x\n",
	"a: -x\n",
	"a: -\n",
	"a: - \n",
	"? a\n: b\n",
	"\"a\": b\n",
	"a b: c\n",
	"a:b\n",
	"a:\tb\n",
	"a: b\r\n",
	"a: é\n",
	"---\na: 1\n",
	"...\n",
	"%YAML 1.2\n",
	"a: 1\n---x: 2\n",
	"a: [\"x\\\"\"]\n",
	"a: 'x\n",
	"a: \"x\n",
	"key: 0777\nb: 0b101\nc: -0b101\nd: 1.5e+3\ne: 1.\nf: 12:30\ng: 2001-12-14t21:59:43.10-05:00\nh: 1e\ni: .NaN\nj: -.Inf\nk: Yes\nl: FALSE\nm: 9223372036854775808\nn: -9223372036854775809\no: 18446744073709551616\n",
	"a: [TRUE, True, Null, NULL, n, y, On, off, tRue, nULL, ~x, 0, 00, 01, 1, 10, 123456789012345678, 1234567890123456789, 9223372036854775807, 99999999999999999999, 1_0, 1.0, 1e2]\n",
	"a: TRUE\nb: Null\nc: 0\nd: 00\ne: 123456789012345678\nf: 1234567890123456789\ng: 12345678901234567890\nh: 0x_1\ni: +1\nj: -0\nk: .1\nl: -.5e3\nm: 1__0\n",
	"a: x y  \n",
	"a: x  # c\n",
	"a:   \n",
	"a: # c\n  b: 1\n",
	"a: # c\n- 1\n",
	"a:\n# c\n  b: 1\n",
	"a:\n  b: 1\n# c\n  c: 2\n",
	"a: -1\nb: - 1\n",
	"-a: 1\n",
	".a: 1\n",
	"a/b.c_d-e: 1\n",
	"1: 2\ntrue: false\nnull: ~\n",
	"apiVersion: v1\nkind: List\nitems: []\n",
	"apiVersion: v1\nkind:\n",
	"apiVersion: [v1]\nkind: Service\n",
	"apiVersion: v1\nkind: Service\nmetadata: {name: [a]}\n",
	"apiVersion: v1\nkind: Service\nmetadata: [name]\n",
	"apiVersion: v1\nkind: Service\nmetadata:\n  name: 'x'\n  namespace: \"y\"\n",
	"apiVersion: v1\nkind: Service\nmetadata:\n  labels:\n    name: z\n",
	"apiVersion: v1\nkind: Service\nspec:\n  metadata:\n    name: z\n",
	"apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: w}\nspec:\n  serviceName: s\n  replicas: \"3\"\n",
	"apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: w}\nSpec: {}\n",
	"a:\n- - 1\n",
	"a:\n-\n  - 1\n",
	"a:\n  -\n    b: 1\n",
	"a:\n- b\nc:\n",
	"a:\n  - b\n  c: 1\n",
	"a:\n- b\n - c\n",
	"a: 1 # c: d\n",
	"a: [1] # c: d\n",
	"x: {a: b}, c\n",
	"a: 'x'y'\n",
	"a: ''''\n",
	"a: '''\n",
	"a: \"<&>\"\n",
	"a: <b>\n",
	"a: b]\n",
	"a: b,c\n",
	"a: {b: c,d}\n",
	"a: {b: \"c\" , d: 'e'}\n",
	"a: {b: c d}\n",
	"a: {b: -1}\n",
	"a: {b:  }\n",
	"a:\n",
	"a",
	" a: 1\nb: 2\n",
	"a: 1\n b: 2\n",
	"# only\n",
	"",
}

// checkFast holds the fast path to kubectl's reader on one document:
// where it takes the document, sigs.k8s.io/yaml.YAMLToJSON reads it too,
// as the same JSON value (numbers spelled the same), with the same root
// scalars; and its tree places lines as yaml.v3's does.
func checkFast(t *testing.T, data []byte) (taken bool) {
	t.Helper()
	p := &fastParser{}
	if !p.parse(data) {
		return false
	}
	want, err := sigsyaml.YAMLToJSON(data)
	if err != nil {
		t.Fatalf("fast path took %q, kubectl's reader refuses it: %v", data, err)
	}
	if got, exp := canonicalJSON(t, p.buf.Bytes()), canonicalJSON(t, want); got != exp {
		t.Fatalf("%q:\nfast path:  %s\nYAMLToJSON: %s", data, got, exp)
	}
	// Field names match case-sensitively, as in decodeObjects.
	var h header
	if err := kjson.UnmarshalCaseSensitivePreserveInts(want, &h); err != nil {
		t.Fatalf("fast path took %q, YAMLToJSON gives no mapping: %s", data, want)
	}
	var m metaHeader
	if len(h.Metadata) > 0 && h.Metadata[0] == '{' {
		_ = kjson.UnmarshalCaseSensitivePreserveInts(h.Metadata, &m)
	}
	got := fmt.Sprintf("%q %q %q %q %q", p.apiVersion, p.kind, p.name, p.namespace, p.generateName)
	exp := fmt.Sprintf("%q %q %q %q %q", jsonString(h.APIVersion), jsonString(h.Kind), jsonString(m.Name), jsonString(m.Namespace), jsonString(m.GenerateName))
	if got != exp {
		t.Fatalf("%q:\nfast path:  %s\nYAMLToJSON: %s", data, got, exp)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil || len(doc.Content) == 0 {
		t.Fatalf("fast path took %q, yaml.v3 (for lines) refuses it: %v", data, err)
	}
	root := doc.Content[0]
	if p.lines[0].num != root.Line {
		t.Fatalf("%q: fast path root at line %d, yaml.v3 at %d", data, p.lines[0].num, root.Line)
	}
	tree := fastTree(data)
	if tree == nil {
		t.Fatalf("fastTree refuses %q", data)
	}
	if got, exp := describeTree(tree), describeTree(root); got != exp {
		t.Fatalf("%q:\nfast path tree:\n%s\nyaml.v3 tree:\n%s", data, got, exp)
	}
	return true
}

// canonicalJSON re-encodes a JSON value with sorted keys, numbers spelled
// as in the input: two JSON texts of the same value compare equal.
func canonicalJSON(t *testing.T, data []byte) string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("invalid JSON %s: %v", data, err)
	}
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// describeTree prints what locate reads of a tree.
func describeTree(n *yaml.Node) string {
	var b strings.Builder
	var walk func(n *yaml.Node, indent string)
	walk = func(n *yaml.Node, indent string) {
		fmt.Fprintf(&b, "%skind %d line %d %q\n", indent, n.Kind, n.Line, n.Value)
		for _, c := range n.Content {
			walk(c, indent+"  ")
		}
	}
	walk(n, "")
	return b.String()
}

// corpusDocuments returns the documents of the repository's manifests and
// of a generated set.
func corpusDocuments(t testing.TB) [][]byte {
	var files [][]byte
	var generated bytes.Buffer
	if err := benchmanifests.Write(&generated, 50, 0); err != nil {
		t.Fatal(err)
	}
	files = append(files, generated.Bytes())
	for _, pattern := range []string{"../../rules/testdata/*/*.yaml", "../check/testdata/*/*.yaml", "../check/testdata/*.yaml", "../../test/*/testdata/*/*.yaml", "../../test/e2e/testdata/*.yaml", "../../deploy/*/*.yaml", "../../deploy/*/*/*.yaml"} {
		paths, _ := filepath.Glob(pattern)
		for _, path := range paths {
			if data, err := os.ReadFile(path); err == nil {
				files = append(files, data)
			}
		}
	}
	var docs [][]byte
	for _, data := range files {
		for _, d := range split(data) {
			docs = append(docs, d.Raw)
		}
	}
	return docs
}

func TestFastParseMatchesKubectl(t *testing.T) {
	taken := 0
	for _, c := range fastCases {
		if checkFast(t, []byte(c)) {
			taken++
		}
	}
	if taken < 30 {
		t.Errorf("fast path took %d of %d cases", taken, len(fastCases))
	}
	docs := corpusDocuments(t)
	taken = 0
	for _, d := range docs {
		if checkFast(t, d) {
			taken++
		}
	}
	t.Logf("fast path took %d of %d corpus documents", taken, len(docs))
}

// TestFastParseIsUsed makes sure generated manifests take the fast path.
func TestFastParseIsUsed(t *testing.T) {
	var in bytes.Buffer
	if err := benchmanifests.Write(&in, 100, 0); err != nil {
		t.Fatal(err)
	}
	p := &fastParser{}
	f := &File{Path: "in.yaml", data: in.Bytes(), Documents: split(in.Bytes())}
	for _, d := range f.Documents {
		if !isBlank(d.Raw) && !p.decodeDocument(f, d, Options{Namespace: "default"}) {
			t.Fatalf("fast path refused a generated document:\n%s", d.Raw)
		}
	}
}

// TestFastParseMatchesLoad loads inputs with and without the fast path:
// the result (objects, lines, typed objects, warnings, errors) is the same.
func TestFastParseMatchesLoad(t *testing.T) {
	cases := map[string]string{}
	for name, in := range loadCases {
		cases[name] = in
	}
	for i, in := range fastCases {
		cases[fmt.Sprint("fast case ", i)] = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: pad}\n---\n" + in
	}
	compareOn(t, cases, loadFastSlow, "fast path", "slow path")
}

// FuzzFastParse checks the fast path on arbitrary input against kubectl's
// reader (checkFast), and against the slow path (loadFastSlow).
func FuzzFastParse(f *testing.F) {
	for _, c := range fastCases {
		f.Add([]byte(c))
	}
	for _, in := range loadCases {
		f.Add([]byte(in))
	}
	for _, d := range corpusDocuments(f) {
		f.Add(d)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkFast(t, data)
		if ambiguous(data) {
			t.Skip("kubectl's reader itself reads this two ways")
		}
		if got, want := loadFastSlow(t, data); got != want {
			t.Errorf("fast path:\n%s\nslow path:\n%s", got, want)
		}
	})
}

// fieldPaths are fields whose lines loadFastSlow compares.
var fieldPaths = []string{"", "spec.ports[0].name", "spec.ports[1]", "spec.ports.name", "metadata.labels", "spec.selector", "spec.serviceName", "spec.template.spec.containers[0].ports[0].containerPort", "spec.nope", "a", "a[0]", "a.b", "a[0].b"}

// loadFastSlow describes what Parse makes of data with the fast path, and
// with the slow path alone.
func loadFastSlow(t *testing.T, data []byte) (fast, slow string) {
	t.Helper()
	describe := func() string {
		set, err := Parse([]Source{{Path: "in.yaml", Data: data}}, Options{Minimal: true})
		if err != nil {
			return "error: " + err.Error()
		}
		var b strings.Builder
		for _, sk := range set.Skipped {
			fmt.Fprintf(&b, "skipped %s: %s\n", sk.Path, sk.Reason)
		}
		if len(set.Files) == 0 {
			return b.String()
		}
		for _, d := range set.Files[0].Documents {
			fmt.Fprintf(&b, "doc line %d empty %v objects %d\n", d.Line, d.Empty, len(d.Objects))
		}
		for _, o := range set.Objects {
			typed, _ := json.Marshal(o.Typed)
			fmt.Fprintf(&b, "%s line %d workload %v generated %v field lines %v typed %s\n", o.Ref, o.Line(), o.Workload, o.Generated, o.FieldLines(fieldPaths), typed)
		}
		for _, w := range set.Warnings {
			fmt.Fprintf(&b, "warning %s:%d (%d) %s\n", w.File, w.Line, w.OtherLine, w.Message)
		}
		return b.String()
	}
	fast = describe()
	fastParse = false
	defer func() { fastParse = true }()
	return fast, describe()
}
