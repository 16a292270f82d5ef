package admission

import (
	"strings"
	"testing"

	"github.com/headless-guard/headless-guard/rules"
	"github.com/headless-guard/headless-guard/test/framework"
)

// TestApplyOrderMatters shows the one place where order matters: `check`
// reads a file whole, admission sees each object as kubectl creates it. A
// file with the StatefulSet before its Service checks clean. Its first
// `kubectl apply -f` creates the StatefulSet with an HG002 warning that
// says why it was admitted (nothing in the pod template uses the per-pod
// names), then the Service: it converges in one apply. In the strict
// policy the same apply is denied, with the advice to put the Service
// first, and a second apply goes through.
func TestApplyOrderMatters(t *testing.T) {
	const path = "../../rules/testdata/HG002/pass-service-after-statefulset.yaml"
	if r := framework.Run(t, nil, "check", path); r.Code != 0 {
		t.Fatalf("check %s: exit %d, want 0 (order-independent)\n%s%s", path, r.Code, r.Stdout, r.Stderr)
	}
	guardMu.Lock()
	defer guardMu.Unlock()
	c := guard(t)
	data := fileIn(t, path)

	ns := framework.Namespace(t, c, "apply-order", nil)
	out, stderr, err := framework.Kubectl(t, c, data, "apply", "-n", ns, "-f", "-")
	if err != nil || !strings.Contains(out, "statefulset.apps/zk created") || !strings.Contains(out, "service/zk-hs created") {
		t.Fatalf("default policy: want one apply to create both\nerr %v\n%s%s", err, out, stderr)
	}
	if !strings.Contains(stderr, "Warning: HG002 spec.serviceName:") || !strings.Contains(stderr, "(admitted: nothing in the pod template uses the per-pod names") {
		t.Errorf("default policy: want the HG002 warning with the reason it was admitted:\n%s", stderr)
	}

	strict := framework.Namespace(t, c, "apply-order-strict", map[string]string{rules.PolicyLabel: string(rules.LevelStrict)})
	out, stderr, err = framework.Kubectl(t, c, data, "apply", "-n", strict, "-f", "-")
	if err == nil {
		t.Fatalf("strict policy: first apply admitted, want the StatefulSet denied by HG002\n%s%s", out, stderr)
	}
	for _, want := range []string{
		"(HG002 service-exists)",
		"put the Service first in the file",
		"`kubectl label namespace " + strict + " headless-guard.io/policy=default`",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("strict policy, first apply: stderr lacks %q:\n%s", want, stderr)
		}
	}
	if !strings.Contains(out, "service/zk-hs created") {
		t.Errorf("strict policy, first apply: the Service after the denied StatefulSet must still be created:\n%s", out)
	}
	out, stderr, err = framework.Kubectl(t, c, data, "apply", "-n", strict, "-f", "-")
	if err != nil || !strings.Contains(out, "statefulset.apps/zk created") {
		t.Errorf("strict policy, second apply: err %v, want the StatefulSet created\n%s%s", err, out, stderr)
	}
}
