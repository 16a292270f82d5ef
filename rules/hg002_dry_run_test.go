package rules_test

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/headless-guard/headless-guard/rules"
)

// TestHG002DryRunSaysWhatItCannotSee: on a server-side dry-run the
// Service may be part of the same apply (kubernetes #83562), so HG002
// names the headless Service that selects the pods and says when to
// ignore the warning, instead of "create it first" (issue 14).
func TestHG002DryRunSaysWhatItCannotSee(t *testing.T) {
	cases := []struct {
		name     string
		req      *rules.Request
		objs     []runtime.Object
		want     []string
		dontWant []string
	}{
		{"dry-run, a headless Service selects the pods",
			dryRun(create(mkStatefulSet(withServiceName("nginx-headles")))), []runtime.Object{mkService()},
			[]string{"did you mean `nginx-headless`", "if Service `nginx-headles` is part of this apply, ignore this"},
			[]string{"set `spec.serviceName"}},
		{"dry-run, no Service selects the pods",
			dryRun(create(mkStatefulSet())), nil,
			[]string{"if Service `nginx-headless` is part of this apply, ignore this", "otherwise create a headless Service `nginx-headless`"},
			[]string{"put the Service before"}},
		{"no dry-run, a headless Service selects the pods",
			create(mkStatefulSet(withServiceName("nginx-headles"))), []runtime.Object{mkService()},
			[]string{"set `spec.serviceName: nginx-headless`"},
			[]string{"ignore this"}},
		{"no dry-run, no Service, names used: the apply order is the advice",
			create(mkStatefulSet(withEnv("PEERS", "web-0.nginx-headless"))), nil,
			[]string{"put the Service before the StatefulSet", "uses the per-pod name `web-0.nginx-headless` (env `PEERS` of container `nginx`)"},
			[]string{"ignore this"}},
		{"no dry-run, a near-miss headless Service nobody names",
			create(mkStatefulSet(withServiceName("nginx-hedless"), withTemplateLabels(map[string]string{"app": "web"}))), []runtime.Object{mkService()},
			[]string{"did you mean headless Service `nginx-headless`", "set `spec.serviceName: nginx-headless`"},
			[]string{"ignore this"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := evaluate(t, tc.req, tc.objs...)
			var detail string
			for _, f := range res.Findings {
				if f.Rule.ID == rules.HG002 {
					detail = f.Error.Detail
				}
			}
			if detail == "" {
				t.Fatalf("no HG002 finding: %+v", res.Findings)
			}
			for _, w := range tc.want {
				if !strings.Contains(detail, w) {
					t.Errorf("detail %q lacks %q", detail, w)
				}
			}
			for _, w := range tc.dontWant {
				if strings.Contains(detail, w) {
					t.Errorf("detail %q has %q", detail, w)
				}
			}
		})
	}
}
