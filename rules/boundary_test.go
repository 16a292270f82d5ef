package rules_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportBoundary holds rules/ to its house rule: it imports k8s.io/api,
// k8s.io/apimachinery and the standard library only, so that both front
// ends (the webhook and the offline checker) can use it and nothing of
// the webhook's machinery reaches it. golangci-lint's depguard
// (.golangci.yml) says the same where it is installed; this runs in
// `make test` either way.
func TestImportBoundary(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{join .Imports "\n"}}`, ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, imp := range strings.Fields(string(out)) {
		if !strings.Contains(strings.SplitN(imp, "/", 2)[0], ".") {
			continue // the standard library
		}
		if !strings.HasPrefix(imp, "k8s.io/api/") && !strings.HasPrefix(imp, "k8s.io/apimachinery/") {
			t.Errorf("rules imports %s: only k8s.io/api, k8s.io/apimachinery and the standard library are allowed", imp)
		}
	}
	deps, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, dep := range strings.Fields(string(deps)) {
		for _, banned := range []string{"sigs.k8s.io/controller-runtime", "k8s.io/client-go"} {
			if strings.HasPrefix(dep, banned) {
				t.Errorf("rules depends on %s (through its imports)", dep)
			}
		}
	}
}
