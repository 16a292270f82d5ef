package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/go-logr/logr/funcr"
	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/headless-guard/headless-guard/internal/admissionhttp"
	"github.com/headless-guard/headless-guard/internal/lookup"
	"github.com/headless-guard/headless-guard/internal/testobj"
	"github.com/headless-guard/headless-guard/rules"
)

// newServer serves the five webhooks over HTTP with the lookups production
// runs, over an informer cache of objs (lookup.InMemory); the integration
// tests run them against a real API server.
func newServer(t *testing.T, fixes rules.FixOptions, objs ...client.Object) (*httptest.Server, *Config) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	lk, namespaces, err := lookup.InMemory(ctx, objs...)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &Config{
		Fixes:      fixes,
		Lookup:     lk,
		Namespaces: namespaces,
		Metrics:    NewMetrics(),
	}
	mux := http.NewServeMux()
	for _, wh := range Webhooks(cfg) {
		mux.Handle(wh.Path, serveReviews(wh.Handler, true, admissionhttp.NewBodyBudget(admissionhttp.DefaultBodyBudget)))
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, cfg
}

// serveReviews is Setup's HTTP layer of one path (without draining): h
// behind admissionhttp.Handler, its refusals counted under its name.
func serveReviews(h admission.Handler, recoverPanic bool, budget *admissionhttp.BodyBudget) http.Handler {
	return admissionhttp.Handler(h, admissionhttp.Options{RecoverPanic: recoverPanic, Budget: budget, Refused: refusedCounter(h)})
}

// cacheLookupOf is the informer-cache lookup of cfg, whose API reader the
// tests replace.
func cacheLookupOf(cfg *Config) *lookup.CacheLookup { return cfg.Lookup.(*lookup.CacheLookup) }

// sts is testobj's StatefulSet default/web with serviceName.
func sts(serviceName string) *appsv1.StatefulSet {
	return testobj.StatefulSet(testobj.WithServiceName(serviceName))
}

// headless is testobj's headless Service default/nginx-headless.
func headless() *corev1.Service { return testobj.Service() }

func review(t *testing.T, op admissionv1.Operation, gvk metav1.GroupVersionKind, obj, old runtime.Object, dryRun bool) []byte {
	t.Helper()
	req := &admissionv1.AdmissionRequest{
		UID: types.UID("uid-1"), Kind: gvk, Operation: op, Namespace: "default", Name: "web", DryRun: &dryRun,
	}
	if obj != nil {
		req.Object.Raw, _ = json.Marshal(obj)
	}
	if old != nil {
		req.OldObject.Raw, _ = json.Marshal(old)
	}
	data, _ := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request:  req,
	})
	return data
}

func post(t *testing.T, srv *httptest.Server, path, contentType string, body []byte) (int, *admissionv1.AdmissionResponse) {
	t.Helper()
	resp, err := http.Post(srv.URL+path, contentType, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out admissionv1.AdmissionReview
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out.Response
}

var stsGVK = metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: "StatefulSet"}

func TestDenialCarriesFieldCausesAndRemediation(t *testing.T) {
	srv, _ := newServer(t, rules.FixOptions{}, headless())
	_, resp := post(t, srv, PathValidateStatefulSets, "application/json", review(t, admissionv1.Create, stsGVK, sts("nginx"), nil, false))
	if resp == nil || resp.Allowed || resp.UID != "uid-1" {
		t.Fatalf("want a denial for uid-1, got %+v", resp)
	}
	if resp.Result.Reason != metav1.StatusReasonInvalid || resp.Result.Code != http.StatusUnprocessableEntity {
		t.Errorf("status %s/%d, want Invalid/422 (apierrors.NewInvalid)", resp.Result.Reason, resp.Result.Code)
	}
	causes := resp.Result.Details.Causes
	if len(causes) != 1 || causes[0].Field != "spec.serviceName" || !strings.Contains(causes[0].Message, "(HG002 service-exists)") ||
		!strings.Contains(causes[0].Message, "headless Service `nginx-headless` selects these pods") {
		t.Errorf("causes %+v", causes)
	}
	n := len(resp.Warnings)
	if n < 2 || !strings.HasPrefix(resp.Warnings[n-2], "HG002: Create a headless Service") {
		t.Errorf("warnings %q must end with the remediation, then the remedies", resp.Warnings)
	}
	// Whoever was denied learns the switches that admit it, in the
	// warnings and in the status message a controller logs.
	for _, text := range []string{resp.Warnings[n-1], resp.Result.Message} {
		for _, want := range []string{"`headless-guard.io/skip: \"HG002\"`", "`kubectl label namespace default headless-guard.io/mode=warn`"} {
			if !strings.Contains(text, want) {
				t.Errorf("%q lacks the remedy %s", text, want)
			}
		}
	}
}

// TestDenialRemediesFollowThePolicy: the remedies name the labels that
// would have admitted the object, and only those.
func TestDenialRemediesFollowThePolicy(t *testing.T) {
	strict := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default", Labels: map[string]string{
		rules.PolicyLabel: string(rules.LevelStrict), rules.ControllerOwnedLabel: string(rules.ControllerOwnedEnforce),
	}}}
	srv, _ := newServer(t, rules.FixOptions{}, strict)
	owned := sts("nginx")
	owned.OwnerReferences = []metav1.OwnerReference{{APIVersion: "example.com/v1", Kind: "Redis", Name: "cache", UID: "u1", Controller: new(true)}}
	_, resp := post(t, srv, PathValidateStatefulSets, "application/json", review(t, admissionv1.Create, stsGVK, owned, nil, false))
	if resp.Allowed {
		t.Fatalf("strict, controller-owned=enforce: want a denial, got %+v", resp)
	}
	for _, want := range []string{rules.PolicyLabel + "=default", rules.ControllerOwnedLabel + "=report", rules.ModeLabel + "=warn"} {
		if !strings.Contains(resp.Result.Message, want) {
			t.Errorf("message %q lacks %s", resp.Result.Message, want)
		}
	}
	// The same object in the default namespace policy is reported, and
	// the warning says why it was admitted.
	srv, _ = newServer(t, rules.FixOptions{})
	_, resp = post(t, srv, PathValidateStatefulSets, "application/json", review(t, admissionv1.Create, stsGVK, owned, nil, false))
	if !resp.Allowed || len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "(admitted: controller-owned; the audit reports it") {
		t.Errorf("controller-owned in the default policy: want admitted with the reason, got allowed=%v %q", resp.Allowed, resp.Warnings)
	}
}

func TestDryRunAndWarnings(t *testing.T) {
	srv, _ := newServer(t, rules.FixOptions{}, headless())
	_, resp := post(t, srv, PathValidateStatefulSets, "application/json", review(t, admissionv1.Create, stsGVK, sts("nginx"), nil, true))
	if !resp.Allowed || len(resp.Warnings) != 1 || !strings.HasPrefix(resp.Warnings[0], "HG002 spec.serviceName: must name an existing Service") {
		t.Errorf("dry-run: HG002 must be a warning, got allowed=%v %q", resp.Allowed, resp.Warnings)
	}
	_, resp = post(t, srv, PathValidateStatefulSets, "application/json", review(t, admissionv1.Create, stsGVK, sts("nginx-headless"), nil, false))
	if !resp.Allowed || len(resp.Warnings) != 0 {
		t.Errorf("correct wiring: allowed=%v warnings %q", resp.Allowed, resp.Warnings)
	}
	_, resp = post(t, srv, PathValidateStatefulSets, "application/json", review(t, admissionv1.Create, stsGVK, sts(""), nil, false))
	if !resp.Allowed || len(resp.Warnings) != 1 || !strings.HasPrefix(resp.Warnings[0], "HG001 spec.serviceName") {
		t.Errorf("empty serviceName: allowed=%v warnings %q", resp.Allowed, resp.Warnings)
	}
}

func TestNamespaceModeLabel(t *testing.T) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default", Labels: map[string]string{rules.ModeLabel: "warn"}}}
	srv, _ := newServer(t, rules.FixOptions{}, ns)
	_, resp := post(t, srv, PathValidateStatefulSets, "application/json", review(t, admissionv1.Create, stsGVK, sts("nginx"), nil, false))
	if !resp.Allowed || len(resp.Warnings) == 0 {
		t.Errorf("mode=warn namespace: want allowed with warnings, got %+v", resp)
	}
}

// The mutating webhook only ever patches: with inject-service on, it sets
// an empty serviceName and creates nothing, dry run or not; the validating
// webhook says the reconciler will create the Service instead of denying.
func TestInjectOnlyPatches(t *testing.T) {
	srv, cfg := newServer(t, rules.FixOptions{InjectService: true})
	for _, dryRun := range []bool{true, false} {
		_, resp := post(t, srv, PathMutateStatefulSets, "application/json", review(t, admissionv1.Create, stsGVK, sts(""), nil, dryRun))
		if !resp.Allowed || resp.PatchType == nil || *resp.PatchType != admissionv1.PatchTypeJSONPatch || !strings.Contains(string(resp.Patch), `"/spec/serviceName"`) {
			t.Fatalf("dry run %v: want a JSON patch of spec.serviceName, got %+v", dryRun, resp)
		}
		if svc, err := cfg.Lookup.For(context.Background()).Service("default", "web"); svc != nil || err != nil {
			t.Fatalf("dry run %v: the mutating webhook created the Service (%v)", dryRun, err)
		}
	}
	for dryRun, want := range map[bool]string{
		true:  "HG002 spec.serviceName: headless-guard would create headless Service default/web for StatefulSet web (dry run: nothing created)",
		false: "HG002 spec.serviceName: headless-guard will create headless Service default/web for StatefulSet web once it is stored (inject-service)",
	} {
		_, resp := post(t, srv, PathValidateStatefulSets, "application/json", review(t, admissionv1.Create, stsGVK, sts("web"), nil, dryRun))
		if !resp.Allowed || !slices.Contains(resp.Warnings, want) {
			t.Errorf("dry run %v: want allowed with %q, got allowed=%v %q", dryRun, want, resp.Allowed, resp.Warnings)
		}
	}
}

// An object label may turn a fix off, never on. The namespace is strict,
// where a missing Service denies whether or not anything uses the names.
func TestObjectLabelsOptOutNeverIn(t *testing.T) {
	optIn := sts("")
	optIn.Labels = map[string]string{rules.InjectLabel: "true"}
	strict := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default", Labels: map[string]string{rules.PolicyLabel: string(rules.LevelStrict)}}}
	srv, _ := newServer(t, rules.FixOptions{}, strict)
	_, resp := post(t, srv, PathMutateStatefulSets, "application/json", review(t, admissionv1.Create, stsGVK, optIn, nil, false))
	if !resp.Allowed || len(resp.Patch) != 0 {
		t.Errorf("an object label enabled inject-service: %+v", resp)
	}
	named := sts("web")
	named.Labels = map[string]string{rules.InjectLabel: "true"}
	if _, resp = post(t, srv, PathValidateStatefulSets, "application/json", review(t, admissionv1.Create, stsGVK, named, nil, false)); resp.Allowed {
		t.Errorf("an object label turned HG002's denial into a promise: %+v", resp)
	}

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default", Labels: map[string]string{rules.InjectLabel: "true", rules.PolicyLabel: string(rules.LevelStrict)}}}
	srv, _ = newServer(t, rules.FixOptions{}, ns)
	if _, resp = post(t, srv, PathMutateStatefulSets, "application/json", review(t, admissionv1.Create, stsGVK, sts(""), nil, false)); len(resp.Patch) == 0 {
		t.Errorf("the namespace label must enable inject-service: %+v", resp)
	}
	optOut := sts("web")
	optOut.Labels = map[string]string{rules.InjectLabel: "false"}
	if _, resp = post(t, srv, PathValidateStatefulSets, "application/json", review(t, admissionv1.Create, stsGVK, optOut, nil, false)); resp.Allowed {
		t.Errorf("an object labelled %s=false must be denied HG002 as without injection: %+v", rules.InjectLabel, resp)
	}
}

func TestBadInputGetsAClearError(t *testing.T) {
	srv, _ := newServer(t, rules.FixOptions{})
	svcGVK := metav1.GroupVersionKind{Version: "v1", Kind: "Service"}
	v1beta1 := bytes.Replace(review(t, admissionv1.Create, stsGVK, sts("x"), nil, false), []byte("admission.k8s.io/v1"), []byte("admission.k8s.io/v1beta1"), 1)
	cases := []struct {
		name, path, contentType string
		body                    []byte
		wantHTTP                int
		wantMessage             string
	}{
		{"malformed JSON", PathValidateStatefulSets, "application/json", []byte(`{"request":`), http.StatusBadRequest, ""},
		{"wrong content type", PathValidateStatefulSets, "text/plain", review(t, admissionv1.Create, stsGVK, sts("x"), nil, false), http.StatusBadRequest, ""},
		{"empty body", PathValidateStatefulSets, "application/json", nil, http.StatusBadRequest, ""},
		{"v1beta1 review", PathValidateStatefulSets, "application/json", v1beta1, http.StatusBadRequest, "AdmissionReview admission.k8s.io/v1beta1 is not supported"},
		{"operation not registered on this path", PathValidateStatefulSets, "application/json", review(t, admissionv1.Delete, stsGVK, nil, sts("x"), false), http.StatusOK, `does not serve operation "DELETE" on StatefulSet`},
		{"operation a mutating path does not serve", PathMutateStatefulSets, "application/json", review(t, admissionv1.Update, stsGVK, sts("x"), sts("x"), false), http.StatusOK, `does not serve operation "UPDATE" on StatefulSet`},
		{"object in another namespace", PathMutateStatefulSets, "application/json", review(t, admissionv1.Create, stsGVK, inNamespace(sts("x"), "kube-system"), nil, false), http.StatusOK, "the object's namespace \"kube-system\" is not the request's namespace \"default\""},
		{"oldObject in another namespace", PathValidateStatefulSets, "application/json", review(t, admissionv1.Update, stsGVK, sts("x"), inNamespace(sts("x"), "kube-system"), false), http.StatusOK, "is not the request's namespace"},
		{"a huge kind", PathValidateStatefulSets, "application/json", review(t, admissionv1.Create, metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: strings.Repeat("K", 1<<20)}, sts("x"), nil, false), http.StatusOK, "KKKK... (1048590 bytes)"},
		{"kind not registered on this path", PathValidateStatefulSets, "application/json", review(t, admissionv1.Create, svcGVK, headless(), nil, false), http.StatusOK, `does not handle /v1, Kind=Service`},
		{"object that is not the claimed kind", PathValidateStatefulSets, "application/json", review(t, admissionv1.Create, stsGVK, typed(headless()), nil, false), http.StatusOK, "object is a Service, but the request is for a StatefulSet"},
		{"object without a kind", PathValidateStatefulSets, "application/json", review(t, admissionv1.Create, stsGVK, &appsv1.StatefulSet{}, nil, false), http.StatusOK, "object has no `kind`"},
		{"missing object", PathValidateStatefulSets, "application/json", review(t, admissionv1.Create, stsGVK, nil, nil, false), http.StatusOK, "request without object"},
		{"unknown kind", PathValidateWorkloads, "application/json", review(t, admissionv1.Create, metav1.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Pod"}, sts("x"), nil, false), http.StatusOK, "does not handle example.com/v1, Kind=Pod"},
		{"DELETE without oldObject", PathValidateServices, "application/json", review(t, admissionv1.Delete, svcGVK, nil, nil, false), http.StatusOK, "DELETE request without oldObject"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, resp := post(t, srv, tc.path, tc.contentType, tc.body)
			// controller-runtime answers undecodable bodies with HTTP 200 and an
			// error review, or 400; either way the request must not be allowed.
			if code != tc.wantHTTP && !(code == http.StatusOK && tc.wantHTTP == http.StatusBadRequest && resp != nil && !resp.Allowed) {
				t.Errorf("HTTP %d, want %d", code, tc.wantHTTP)
			}
			if resp != nil && resp.Allowed {
				t.Errorf("want an error response, got %+v", resp)
			}
			if tc.wantMessage != "" && (resp == nil || !strings.Contains(resp.Result.Message, tc.wantMessage)) {
				t.Errorf("message %v, want it to contain %q", resp, tc.wantMessage)
			}
		})
	}
}

func inNamespace(o *appsv1.StatefulSet, ns string) *appsv1.StatefulSet {
	o.Namespace = ns
	return o
}

func typed(svc *corev1.Service) *corev1.Service {
	svc.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Service"}
	return svc
}

// A skip annotation that names no rule skips nothing, and says so.
func TestUnknownSkipIsWarned(t *testing.T) {
	srv, _ := newServer(t, rules.FixOptions{}, headless())
	obj := sts("nginx-headless")
	obj.Annotations = map[string]string{rules.SkipAnnotation: "HG04, HG005"}
	_, resp := post(t, srv, PathValidateStatefulSets, "application/json", review(t, admissionv1.Create, stsGVK, obj, nil, false))
	want := `metadata.annotations[headless-guard.io/skip]: ["HG04"] is no rule ID`
	if !resp.Allowed || len(resp.Warnings) != 1 || !strings.HasPrefix(resp.Warnings[0], want) {
		t.Errorf("want allowed with one warning starting %q, got allowed=%v %q", want, resp.Allowed, resp.Warnings)
	}
}

// TestDenialIsLogged: every denial is one line at the default level, with
// the object, the user, the rules and the remedy: the guard's owner sees
// what it blocks even when whoever was denied (an operator) does not say.
func TestDenialIsLogged(t *testing.T) {
	srv, cfg := newServer(t, rules.FixOptions{}, headless())
	var lines []string
	cfg.Log = funcr.New(func(prefix, args string) { lines = append(lines, args) }, funcr.Options{Verbosity: 0})
	_, resp := post(t, srv, PathValidateStatefulSets, "application/json", review(t, admissionv1.Create, stsGVK, sts("nginx"), nil, false))
	if resp.Allowed {
		t.Fatalf("want a denial, got %+v", resp)
	}
	var denied []string
	for _, l := range lines {
		if strings.Contains(l, `"msg"="denied"`) {
			denied = append(denied, l)
		}
	}
	if len(denied) != 1 {
		t.Fatalf("want one denial line at the default level, got %q", lines)
	}
	for _, want := range []string{`"kind"="StatefulSet"`, `"namespace"="default"`, `"name"="web"`, `"user"=`, `"rules"="HG002"`, `"remedy"="to admit it without fixing it:`} {
		if !strings.Contains(denied[0], want) {
			t.Errorf("denial line %q lacks %s", denied[0], want)
		}
	}
}

// failingConfigMaps is an API server whose ConfigMap reads fail.
type failingConfigMaps struct{ client.Reader }

func (f failingConfigMaps) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if _, ok := obj.(*corev1.ConfigMap); ok {
		return errors.New(`configmaps "peers" is forbidden`)
	}
	return f.Reader.Get(ctx, key, obj, opts...)
}

// TestEvidenceInConfigMapsAtAdmission: a person's StatefulSet whose
// mounted ConfigMap lists the per-pod names behind a ClusterIP Service is
// denied (the ConfigMap is read live); when the ConfigMap cannot be read,
// it is admitted, and the warning says what could not be read.
func TestEvidenceInConfigMapsAtAdmission(t *testing.T) {
	clusterIP := testobj.Service(testobj.WithClusterIP("10.96.0.10"))
	peers := testobj.ConfigMap("peers", map[string]string{"zoo.cfg": "server.1=web-0.nginx-headless:2888:3888\n"})
	obj := testobj.StatefulSet(testobj.WithConfigMapVolume("peers"))
	srv, cfg := newServer(t, rules.FixOptions{}, clusterIP, peers)
	_, resp := post(t, srv, PathValidateStatefulSets, "application/json", review(t, admissionv1.Create, stsGVK, obj, nil, false))
	if resp.Allowed || !strings.Contains(resp.Result.Message, "key `zoo.cfg` of ConfigMap `peers`") {
		t.Fatalf("want HG003 denied with the ConfigMap as evidence, got allowed=%v %+v", resp.Allowed, resp.Result)
	}
	cacheLookupOf(cfg).Live = failingConfigMaps{cacheLookupOf(cfg).Live}
	_, resp = post(t, srv, PathValidateStatefulSets, "application/json", review(t, admissionv1.Create, stsGVK, obj, nil, false))
	if !resp.Allowed || len(resp.Warnings) == 0 || !strings.Contains(strings.Join(resp.Warnings, "\n"), "ConfigMap `peers` could not be read (configmaps \"peers\" is forbidden)") {
		t.Errorf("unreadable ConfigMap: want admitted with a warning that says so, got allowed=%v %q", resp.Allowed, resp.Warnings)
	}
}
