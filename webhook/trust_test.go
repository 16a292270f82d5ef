package webhook

import (
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/headless-guard/headless-guard/rules"
)

func TestRouteRefusesWhatIsNoKubernetesName(t *testing.T) {
	rt := routeFor([]string{rules.KindStatefulSet}, admissionv1.Create)
	req := func(ns, name string) *admission.Request {
		return &admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
			Kind: metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: "StatefulSet"}, Operation: admissionv1.Create,
			Namespace: ns, Name: name,
		}}
	}
	huge := "x/" + strings.Repeat("n", 1<<20)
	for _, tc := range []struct {
		name, ns, obj, reason string
	}{
		{"a namespace with a slash and 1 MiB", huge, "web", RefusedNamespace},
		{"a namespace of 64 characters", strings.Repeat("n", 64), "web", RefusedNamespace},
		{"an upper-case namespace", "Default", "web", RefusedNamespace},
		{"a name of 1 MiB", "default", strings.Repeat("w", 1<<20), RefusedName},
		{"a name with a slash", "default", "web/0", RefusedName},
	} {
		f := rt.admit(req(tc.ns, tc.obj))
		if f == nil || f.reason != tc.reason {
			t.Errorf("%s: %+v, want refused for %s", tc.name, f, tc.reason)
			continue
		}
		if len(f.msg) > 4*64+200 { // four values cut to 64 bytes (admissionhttp.Cut)
			t.Errorf("%s: the refusal repeats %d bytes", tc.name, len(f.msg))
		}
	}
	for _, tc := range []struct{ ns, name string }{{"default", "web"}, {"team-a", "db.shard-1"}, {"default", ""}} {
		if f := rt.admit(req(tc.ns, tc.name)); f != nil {
			t.Errorf("%s/%s: refused %+v, want admitted", tc.ns, tc.name, f)
		}
	}
}
