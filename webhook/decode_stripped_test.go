package webhook

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/headless-guard/headless-guard/rules"
	"github.com/headless-guard/headless-guard/test/load/reviews"
)

// TestDecodeStrippedIsStrip holds the webhook's partial decoding equal to a
// full decode followed by rules.Strip (what the cache and the checker
// keep), over every object of the rule fixtures and the recorded reviews,
// plus ones with status, managedFields and headless-guard annotations.
func TestDecodeStrippedIsStrip(t *testing.T) {
	var docs [][]byte
	files, _ := filepath.Glob("../rules/testdata/*/*.yaml")
	seeds, _ := filepath.Glob("../rules/testdata/seeds/*.yaml")
	// The chart fixtures carry helm's hook annotation, which Strip keeps.
	charts, _ := filepath.Glob("../internal/check/testdata/charts/*.yaml")
	if len(charts) == 0 {
		t.Fatal("no chart fixtures in internal/check/testdata/charts")
	}
	// Rendered public charts: StatefulSets whose env, args, command and
	// ConfigMap volumes the stripped decoder keeps for the peer-name
	// detector.
	public, _ := filepath.Glob("../internal/check/testdata/publiccharts/*.yaml")
	charts = append(charts, public...)
	for _, f := range slices.Concat(files, seeds, charts) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
		for {
			var raw runtime.RawExtension
			if err := dec.Decode(&raw); err == io.EOF {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if len(bytes.TrimSpace(raw.Raw)) > 0 {
				docs = append(docs, raw.Raw)
			}
		}
	}
	rs, err := reviews.All()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		var review struct {
			Request struct{ Object, OldObject json.RawMessage }
		}
		if err := json.Unmarshal(r.Body, &review); err != nil {
			t.Fatal(err)
		}
		for _, o := range []json.RawMessage{review.Request.Object, review.Request.OldObject} {
			if len(o) > 0 && string(o) != "null" {
				docs = append(docs, o)
			}
		}
	}
	docs = append(docs,
		[]byte(`{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"name":"s","annotations":{"headless-guard.io/skip":"HG004","other":"x"},"managedFields":[{"manager":"m","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{}}}]},"spec":{"serviceName":"s","template":{"metadata":{"annotations":{"a":"b"}},"spec":{"hostname":"h","initContainers":[{"name":"i","restartPolicy":"Always","image":"x","ports":[{"name":"p","containerPort":1}]}],"containers":[{"name":"c","env":[{"name":"E","value":"v"}]}]}},"volumeClaimTemplates":[{"metadata":{"name":"d"}}]},"status":{"replicas":3}}`),
		[]byte(`{"apiVersion":"batch/v1","kind":"CronJob","metadata":{"name":"c","annotations":{"k\u0065y":"v","headless-guard.io\/skip":"all"}},"spec":{"schedule":"* * * * *","jobTemplate":{"metadata":{"labels":{"a":"b"}},"spec":{"template":{"spec":{"subdomain":"x","containers":[{"name":"c","image":"i"}]}}}}},"status":{"active":[{"name":"j"}]}}`),
		[]byte(`{"apiVersion":"apps/v1","kind":"ReplicaSet","metadata":{"name":"r-1","ownerReferences":[{"apiVersion":"apps/v1","kind":"Deployment","name":"r","uid":"u","controller":true}]},"spec":{"selector":{"matchLabels":{"a":"b"}},"template":{"metadata":{"labels":{"a":"b"}},"spec":{"subdomain":"r","containers":[{"name":"c","ports":[{"containerPort":80}],"resources":{"requests":{"cpu":"1"}}}]}}},"status":{"replicas":1}}`),
		[]byte(`{"apiVersion":"v1","kind":"Service","metadata":{"name":"s","annotations":null},"spec":{"clusterIP":"None","ports":[{"port":80,"targetPort":"web"}]},"status":{"loadBalancer":{"ingress":[{"ip":"1.2.3.4"}]}}}`),
	)

	checked := map[string]int{}
	for _, doc := range docs {
		var tm struct{ APIVersion, Kind string }
		if err := json.Unmarshal(doc, &tm); err != nil {
			t.Fatal(err)
		}
		gvk := schema.FromAPIVersionAndKind(tm.APIVersion, tm.Kind)
		k := rules.KindInfoByName(gvk.Kind)
		if k == nil || k.GVK != gvk {
			continue
		}
		decode, ok := strippedDecoders[k.Name]
		if !ok {
			t.Fatalf("kind %s of rules.Kinds has no stripped decoder", k.Name)
		}
		full, err := scheme.Scheme.New(gvk)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(doc, full); err != nil {
			t.Fatalf("%s: %v", doc, err)
		}
		rules.Strip(full)
		got, err := decode(doc)
		if err != nil {
			t.Fatalf("%s: %v", doc, err)
		}
		if !equality.Semantic.DeepEqual(full, got) {
			t.Errorf("%s %s: stripped decode differs from Strip (-Strip +decoded):\n%s", gvk.Kind, rules.RefOf(full).Name, cmp.Diff(full, got))
		}
		checked[gvk.Kind]++
	}
	for _, k := range rules.Kinds {
		if checked[k.Name] == 0 {
			t.Errorf("no %s was checked", k.Name)
		}
	}
	t.Logf("checked %v", checked)
}

// TestEveryKindHasAStrippedDecoder: every kind of rules.Kinds, and only
// those, has a stripped decoder, and a review of each at the table's
// version decodes to it, kind and name intact. (A kind without one would
// still be served, decoded whole; one the webhook cannot decode at all
// would be refused at admission.)
func TestEveryKindHasAStrippedDecoder(t *testing.T) {
	for _, k := range rules.Kinds {
		if _, ok := strippedDecoders[k.Name]; !ok {
			t.Errorf("rules.Kinds has %s, strippedDecoders has no decoder for it", k.Name)
		}
		obj := k.New()
		obj.GetObjectKind().SetGroupVersionKind(k.GVK)
		obj.(metav1.Object).SetName("x")
		raw, err := json.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		req := &admissionv1.AdmissionRequest{
			Kind: metav1.GroupVersionKind{Group: k.GVK.Group, Version: k.GVK.Version, Kind: k.Name}, Operation: admissionv1.Create,
			Namespace: "default", Object: runtime.RawExtension{Raw: raw},
		}
		r, err := decodeRequest(req)
		if err != nil {
			t.Errorf("%s: %v (%s)", k.Name, err, raw)
			continue
		}
		if info := rules.KindInfoOf(r.Object); info != k || rules.RefOf(r.Object).Name != "x" {
			t.Errorf("%s decoded as %T %+v", k.Name, r.Object, rules.RefOf(r.Object))
		}
	}
	for name := range strippedDecoders {
		if rules.KindInfoByName(name) == nil {
			t.Errorf("strippedDecoders has %s, which rules.Kinds has not", name)
		}
	}
}
