package rules_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
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

// TestStripKeepsConfigPlaces: a StatefulSet's env, envFrom and volumes
// keep their places through Strip, so that a finding on the stripped
// object (the webhook's, the checker's) points at the same field as on
// the object itself.
func TestStripKeepsConfigPlaces(t *testing.T) {
	sts := mkStatefulSet(func(sts *appsv1.StatefulSet) {
		c := &sts.Spec.Template.Spec.Containers[0]
		c.Env = []corev1.EnvVar{
			{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
			{Name: "PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{Key: "p"}}},
			{Name: "PEERS", Value: "web-0.nginx:80"},
		}
		sts.Spec.Template.Spec.Volumes = []corev1.Volume{
			{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
		}
	})
	cm := mkConfigMap("cfg", map[string]string{"peers": "web-9.nginx-headless"})
	want := wantsOf(evaluate(t, create(sts), mkService(), cm).Findings)
	stripped := sts.DeepCopy()
	rules.Strip(stripped)
	if got := wantsOf(evaluate(t, create(stripped), mkService(), cm).Findings); !cmp.Equal(want, got) {
		t.Errorf("findings on the stripped object %v, on the object %v", got, want)
	}
	if len(want) != 2 || want[0].Field != "spec.template.spec.containers[0].env[2].value" || want[1].Field != "spec.template.spec.volumes[1].configMap" {
		t.Errorf("findings %v, want HG013 at env[2].value and volumes[1].configMap", want)
	}
	if stripped.Spec.Template.Spec.Containers[0].Env[1].ValueFrom != nil || stripped.Spec.Template.Spec.Volumes[0].EmptyDir != nil {
		t.Errorf("Strip kept what no rule reads: %+v", stripped.Spec.Template.Spec)
	}
}
