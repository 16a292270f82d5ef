package manifest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	kjson "sigs.k8s.io/json"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/headless-guard/headless-guard/internal/benchmanifests"
)

// loadCases are inputs at the edges of reading a stream as kubectl does:
// splitting, scalars, duplicate keys, documents that are not objects.
var loadCases = map[string]string{
	"blank and comment-only documents":                 "---\n---\n# only a comment\n---\napiVersion: v1\nkind: Service\nmetadata: {name: a}\n---\n\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n",
	"content on a separator line":                      "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n--- {apiVersion: v1, kind: Service, metadata: {name: b}}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: c}\n",
	"separator glued to a key":                         "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n---x: 2\n",
	"comment glued to a separator, then more":          "---\n---#c\napiVersion: v1\nkind: Service\nmetadata: {name: a}\n",
	"comment glued to the last separator":              "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n---\n---#c",
	"comment glued to the last separator, \\n":         "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n---\n---#c\n",
	"control character after a first separator":        "---\v",
	"control character after a first separator, more":  "---\f\napiVersion: v1\nkind: Service\nmetadata: {name: a}\n",
	"control character after a dropped separator":      "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n---\v\napiVersion: v1\nkind: Service\nmetadata: {name: b}\n",
	"control character in a first separator's comment": "--- #\x01\napiVersion: v1\nkind: Service\nmetadata: {name: a}\n",
	"no-break space after a first separator":           "---\u00a0\napiVersion: v1\nkind: Service\nmetadata: {name: a}\n",
	"next line after a first separator":                "---\u0085apiVersion: v1\nkind: Service\nmetadata: {name: a}\n",
	"first separator, a comment in UTF-8":              "--- # café\napiVersion: v1\nkind: Service\nmetadata: {name: a}\n",
	"document end marker":                              "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n...\napiVersion: v1\nkind: Service\nmetadata: {name: b}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: c}\n",
	"anchor used in the next document":                 "apiVersion: v1\nkind: Service\nmetadata: &m {name: a}\n---\napiVersion: v1\nkind: Service\nmetadata: *m\n",
	"alias within a document":                          "apiVersion: v1\nkind: Service\nmetadata: {name: a, labels: &l {x: y}}\nspec: {selector: *l}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: b}\n",
	"invalid YAML in the middle":                       "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: [b\n---\napiVersion: v1\nkind: Service\nmetadata: {name: c}\n",
	"bad indentation":                                  "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n---\napiVersion: v1\n kind: Service\n---\napiVersion: v1\nkind: Service\nmetadata: {name: c}\n",
	"not a mapping":                                    "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n---\n- a\n- b\n---\njust a scalar\n",
	"null document":                                    "~\n---\nnull\n---\napiVersion: v1\nkind: Service\nmetadata: {name: a}\n",
	"directive mid-stream":                             "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n%YAML 1.2\n---\napiVersion: v1\nkind: Service\nmetadata: {name: b}\n",
	"wrong type":                                       "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n---\napiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: w}\nspec:\n  serviceName: s\n  replicas: \"3\"\n",
	"CRLF":                                             "apiVersion: v1\r\nkind: Service\r\nmetadata: {name: a}\r\n---\r\napiVersion: v1\r\nkind: Service\r\nmetadata: {name: b}\r\n",
	"List":                                             "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Service\n  metadata: {name: b}\n- apiVersion: apps/v1\n  kind: StatefulSet\n  metadata: {name: c}\n  spec: {serviceName: b}\n",
	"JSON documents":                                   `{"apiVersion":"v1","kind":"Service","metadata":{"name":"a"}}` + "\n---\n" + `{"apiVersion":"v1","kind":"Service","metadata":{"name":"b"}}`,
	"no final newline":                                 "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: b}",
	"separator with a comment":                         "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n--- # next\napiVersion: v1\nkind: Service\nmetadata: {name: b}\n",
	"tabs":                                             "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Service\nmetadata:\n\tname: b\n",
	"YAML 1.1 booleans":                                "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec:\n  clusterIP: None\n  publishNotReadyAddresses: yes\n---\napiVersion: v1\nkind: Service\nmetadata: {name: b}\nspec: {publishNotReadyAddresses: on}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: c}\nspec:\n  publishNotReadyAddresses: N\n",
	"YAML 1.1 numbers":                                 "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: a}\nspec:\n  replicas: 0b11\n  minReadySeconds: 010\n  revisionHistoryLimit: 1_0\n",
	"a boolean where a string must be":                 "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec:\n  selector: {enabled: yes}\n",
	"two metadata keys":                                "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: etcd\n  labels: {app: etcd}\nspec:\n  serviceName: etcd\nmetadata:\n  name: etcd-2\n",
	"duplicate keys deep and in a List":                "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Service\n  metadata: {name: a}\n  spec:\n    ports:\n    - port: 80\n      port: 81\n",
	"a key that is a boolean":                          "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata:\n  on: x\n  1: y\n",
	"infinity":                                         "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {x: .inf}\n",
	"apiVersion not a string":                          "apiVersion: 1\nkind: ConfigMap\nmetadata: {name: a}\n",
	"name not a string, untyped":                       "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: yes}\n",
	"merge keys":                                       "apiVersion: v1\nkind: Service\nmetadata: {name: m}\nspec:\n  ports:\n  - <<: {port: 80, name: base}\n    name: web\n",
}

// compareOn runs compare on each case, on 300 generated documents and on
// every rule fixture: the two sides it loads (named gotSide and wantSide)
// must describe the same result.
func compareOn(t *testing.T, cases map[string]string, compare func(*testing.T, []byte) (string, string), gotSide, wantSide string) {
	t.Helper()
	var generated bytes.Buffer
	if err := benchmanifests.Write(&generated, 300, 0); err != nil {
		t.Fatal(err)
	}
	cases["generated"] = generated.String()
	fixtures, _ := filepath.Glob("../../rules/testdata/*/*.yaml")
	for _, p := range fixtures {
		if data, err := os.ReadFile(p); err == nil {
			cases[p] = string(data)
		}
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			if got, want := compare(t, []byte(in)); got != want {
				t.Errorf("%s:\n%s\n%s:\n%s", gotSide, got, wantSide, want)
			}
		})
	}
}

// kubectlReads describes what kubectl makes of a stream: the documents of
// k8s.io/apimachinery's YAMLReader (what `kubectl apply -f` splits with),
// each converted by sigs.k8s.io/yaml.YAMLToJSON, null ones skipped, Lists
// unwrapped, and the kinds the rules read decoded as the API server
// decodes them. An input kubectl cannot read is "error".
func kubectlReads(data []byte) string {
	var b strings.Builder
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		chunk, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "error"
		}
		j, err := sigsyaml.YAMLToJSON(chunk)
		if err != nil {
			return "error"
		}
		if j = bytes.TrimSpace(j); string(j) == "null" {
			continue
		}
		if !describeKubectlObject(&b, j) {
			return "error"
		}
	}
	return b.String()
}

func describeKubectlObject(b *strings.Builder, j []byte) bool {
	var h struct {
		APIVersion any               `json:"apiVersion"`
		Kind       any               `json:"kind"`
		Metadata   any               `json:"metadata"`
		Items      []json.RawMessage `json:"items"`
	}
	// Field names match case-sensitively, as the API server decodes
	// objects (kubectl's own kind sniffing would also take `Kind:`).
	if len(j) == 0 || j[0] != '{' || kjson.UnmarshalCaseSensitivePreserveInts(j, &h) != nil {
		return false
	}
	apiVersion, _ := h.APIVersion.(string)
	kind, _ := h.Kind.(string)
	if apiVersion == "" || kind == "" {
		return false
	}
	if apiVersion == "v1" && strings.HasSuffix(kind, "List") {
		for _, it := range h.Items {
			if !describeKubectlObject(b, it) {
				return false
			}
		}
		return true
	}
	var name string
	if m, ok := h.Metadata.(map[string]any); ok {
		name, _ = m["name"].(string)
		if name == "" {
			name, _ = m["generateName"].(string)
		}
	}
	typed := newTyped(apiVersion, kind)
	var out []byte
	if typed != nil {
		if kjson.UnmarshalCaseSensitivePreserveInts(j, typed) != nil {
			return false
		}
		if m := typed.(metav1.Object); m.GetNamespace() == "" {
			m.SetNamespace("default")
		}
		typed.GetObjectKind().SetGroupVersionKind(schemaGVK(apiVersion, kind))
		out, _ = json.Marshal(typed)
	}
	fmt.Fprintf(b, "%s %s %q typed %s\n", apiVersion, kind, name, out)
	return true
}

// ambiguous reports whether kubectl's reader itself reads data two ways:
// keys such as `1` and `"1"` in one mapping become one JSON key, and which
// value wins depends on Go's map order in sigs.k8s.io/yaml. No side can be
// compared with another there.
func ambiguous(data []byte) bool {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		chunk, err := r.Read()
		if err != nil {
			return false
		}
		first, err := sigsyaml.YAMLToJSON(chunk)
		if err != nil {
			continue
		}
		for i := 0; i < 4; i++ {
			if again, _ := sigsyaml.YAMLToJSON(chunk); !bytes.Equal(first, again) {
				return true
			}
		}
	}
}

// loaderReads describes what Parse makes of data, in the terms of
// kubectlReads.
func loaderReads(data []byte, opts Options) string {
	// As standard input: a file that is no manifest at all is skipped,
	// where kubectl, told to apply it, fails; standard input never is.
	set, err := Parse([]Source{{Path: StdinName, Data: data}}, opts)
	if err != nil {
		return "error"
	}
	var b strings.Builder
	for _, o := range set.Objects {
		var out []byte
		if o.Typed != nil {
			out, _ = json.Marshal(o.Typed)
		}
		fmt.Fprintf(&b, "%s %s %q typed %s\n", o.Ref.APIVersion, o.Ref.Kind, o.Ref.Name, out)
	}
	return b.String()
}

// loadVsKubectl describes data as the loader reads it (by the fast path
// where it can, or by the slow path alone) and as kubectl does.
func loadVsKubectl(fast bool) func(*testing.T, []byte) (string, string) {
	return func(t *testing.T, data []byte) (string, string) {
		fastParse = fast
		defer func() { fastParse = true }()
		return loaderReads(data, Options{}), kubectlReads(data)
	}
}

// TestLoadMatchesKubectl holds the loader, with and without the fast
// path, to kubectl's reader: the same objects, the same typed values, and
// an error exactly where kubectl has one.
func TestLoadMatchesKubectl(t *testing.T) {
	for _, fast := range []bool{true, false} {
		t.Run(fmt.Sprint("fast=", fast), func(t *testing.T) {
			cases := map[string]string{}
			for name, in := range loadCases {
				cases[name] = in
			}
			for i, in := range fastCases {
				cases[fmt.Sprint("fast case ", i)] = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: pad}\n---\n" + in
			}
			compareOn(t, cases, loadVsKubectl(fast), "loader", "kubectl")
		})
	}
}

// TestWriteStringIsJSONMarshal holds the fast path of writeString to
// json.Marshal's output.
func TestWriteStringIsJSONMarshal(t *testing.T) {
	for _, s := range []string{"", "plain", "with space", `q"uote`, `back\slash`, "tab\t", "nl\n", "<html>&", "ünïcode", "\u2028", string([]byte{0xff, 'a'}), "postgres://db-1.db:5432/app?x=1"} {
		var got bytes.Buffer
		writeString(&got, s)
		want, _ := json.Marshal(s)
		if got.String() != string(want) {
			t.Errorf("writeString(%q) = %s, json.Marshal %s", s, got.String(), want)
		}
	}
}

// TestDocumentJSONKeepsKeyOrder: `--fix` writes an edited JSON document
// with kubectl's values and the document's key order.
func TestDocumentJSONKeepsKeyOrder(t *testing.T) {
	in := `{"kind": "Service", "apiVersion": "v1", "metadata": {"name": "a", "labels": {"z": "yes", "a": "1"}}, "spec": {"ports": [{"port": 80, "name": "web"}], "publishNotReadyAddresses": true, "x": 1.50}}`
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(in), &doc); err != nil {
		t.Fatal(err)
	}
	got, err := documentJSON(&doc)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"kind":"Service","apiVersion":"v1","metadata":{"name":"a","labels":{"z":"yes","a":"1"}},"spec":{"ports":[{"port":80,"name":"web"}],"publishNotReadyAddresses":true,"x":1.5}}`
	if string(got) != want {
		t.Errorf("documentJSON:\n got %s\nwant %s", got, want)
	}
}
