package rules_test

import (
	"testing"

	"github.com/headless-guard/headless-guard/rules"
)

// A StatefulSet whose template never matched its Service stays updatable
// when an upgrade changes another template label (a chart version label),
// while an update of the Service that moves its selector from one broken
// value to another is a new break (HG011).
func TestSameDefect(t *testing.T) {
	svc := mkService(withSelector(map[string]string{"app": "nginx", "tier": "db"}))
	old := mkStatefulSet(withTemplateLabels(map[string]string{"app": "nginx", "helm.sh/chart": "redis-1.0.0"}))
	upgraded := mkStatefulSet(withTemplateLabels(map[string]string{"app": "nginx", "helm.sh/chart": "redis-1.1.0"}))
	res := evaluate(t, update(old, upgraded), svc)
	if len(res.Findings) == 0 {
		t.Fatal("the broken wiring must still be reported")
	}
	for _, f := range res.Findings {
		if f.Action == rules.ActionDeny {
			t.Errorf("upgrade of a StatefulSet that was already broken: %s denies, want a warning", f)
		}
	}

	headless := mkService(withSelector(map[string]string{"app": "nginx", "tier": "db"}))
	moved := mkService(withSelector(map[string]string{"app": "nginx", "tier": "cache"}))
	res = evaluate(t, update(headless, moved), mkStatefulSet())
	denied := false
	for _, f := range res.Findings {
		denied = denied || f.Rule.ID == rules.HG011 && f.Action == rules.ActionDeny
	}
	if !denied {
		t.Errorf("a Service selector moved from one broken value to another must be denied by HG011, got:\n%s", describe(res.Findings))
	}
}
