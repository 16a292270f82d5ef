package rules_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/headless-guard/headless-guard/rules"
)

// TestStripKeepsWhatRulesRead strips a helm test Pod the way the webhook's
// cache and the offline checker do, then checks that HG008 still tells it
// apart from a stray Pod with the same labels.
func TestStripKeepsWhatRulesRead(t *testing.T) {
	pod := func(annotations map[string]string) *corev1.Pod {
		return mkPod(func(p *corev1.Pod) {
			p.Labels = map[string]string{"app": "nginx"}
			p.Annotations = annotations
		})
	}
	hook := pod(map[string]string{
		rules.HelmHookAnnotation:                           "test",
		"helm.sh/hook-delete-policy":                       "before-hook-creation",
		"kubectl.kubernetes.io/last-applied-configuration": "{}",
		rules.SkipAnnotation:                               "HG012",
	})
	rules.Strip(hook)
	want := map[string]string{rules.HelmHookAnnotation: "test", rules.SkipAnnotation: "HG012"}
	if len(hook.Annotations) != len(want) || hook.Annotations[rules.HelmHookAnnotation] != "test" || hook.Annotations[rules.SkipAnnotation] != "HG012" {
		t.Errorf("Strip kept annotations %v, want %v", hook.Annotations, want)
	}
	if res := evaluate(t, create(mkStatefulSet()), mkService(), hook); len(res.Findings) != 0 {
		t.Errorf("stripped helm test Pod: want no finding, got:\n%s", describe(res.Findings))
	}
	stray := pod(map[string]string{"example.com/owner": "me"})
	rules.Strip(stray)
	if stray.Annotations != nil {
		t.Errorf("Strip kept annotations %v, want none", stray.Annotations)
	}
	if res := evaluate(t, create(mkStatefulSet()), mkService(), stray); len(res.Findings) != 1 || res.Findings[0].Rule.ID != "HG008" {
		t.Errorf("stripped stray Pod: want one HG008 finding, got:\n%s", describe(res.Findings))
	}
	for key, kept := range map[string]bool{
		rules.HelmHookAnnotation: true, rules.SkipAnnotation: true, "headless-guard.io/anything": true,
		"helm.sh/hook-weight": false, "meta.helm.sh/release-name": false, "kubectl.kubernetes.io/last-applied-configuration": false,
	} {
		if rules.KeepsAnnotation(key) != kept {
			t.Errorf("KeepsAnnotation(%q) = %v, want %v", key, !kept, kept)
		}
	}
}
