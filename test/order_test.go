package test

import (
	"strings"
	"testing"
)

// TestApplyOrderMatters shows the one place where order matters: `check`
// reads a file whole, admission sees each object as kubectl creates it. A
// file with the StatefulSet before its Service checks clean, and its first
// `kubectl apply -f` is denied by HG002 with a message that says to put
// the Service first; the Service was created by then, so a second apply
// goes through.
func TestApplyOrderMatters(t *testing.T) {
	const path = "../rules/testdata/HG002/pass-service-after-statefulset.yaml"
	if r := run(t, nil, "check", path); r.code != 0 {
		t.Fatalf("check %s: exit %d, want 0 (order-independent)\n%s%s", path, r.code, r.stdout, r.stderr)
	}
	guardMu.Lock()
	defer guardMu.Unlock()
	c := guard(t)
	ns := namespace(t, c, "apply-order", nil)
	data := fileIn(t, path)
	out, stderr, err := kubectl(t, c, data, "apply", "-n", ns, "-f", "-")
	if err == nil {
		t.Fatalf("first apply admitted, want the StatefulSet denied by HG002\n%s%s", out, stderr)
	}
	for _, want := range []string{
		"(HG002 service-exists)",
		"`kubectl apply -f` creates a file's objects in order, so put the Service before the StatefulSet, or use `--inject`",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("first apply: stderr lacks %q:\n%s", want, stderr)
		}
	}
	if !strings.Contains(out, "service/zk-hs created") {
		t.Errorf("first apply: the Service after the denied StatefulSet must still be created:\n%s", out)
	}
	out, stderr, err = kubectl(t, c, data, "apply", "-n", ns, "-f", "-")
	if err != nil || !strings.Contains(out, "statefulset.apps/zk created") {
		t.Errorf("second apply: err %v, want the StatefulSet created\n%s%s", err, out, stderr)
	}
}
