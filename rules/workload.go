package rules

import (
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Workload is a pod-template owner seen through its template.
type Workload struct {
	// Ref names the owner.
	Ref ObjectRef
	// Template is the pod template (for a Pod: its own metadata and spec).
	Template *corev1.PodTemplateSpec
	// MetaPath and SpecPath locate the template's metadata and spec in the owner.
	MetaPath, SpecPath *field.Path
	// HelmHook is true when the owner is a helm hook (HelmHookAnnotation),
	// e.g. the Pod of `helm test`: it carries the release's labels and is
	// created and deleted around installs, not served by the release.
	HelmHook bool
}

// HelmHookAnnotation marks helm hook objects (`test`, `pre-install`, ...).
// rules.Strip keeps it: HG008 reads it.
const HelmHookAnnotation = "helm.sh/hook"

// WorkloadOf returns the pod template of a pod-template owner; ok is false
// for any other object.
func WorkloadOf(obj runtime.Object) (w Workload, ok bool) {
	w, ok = workloadOf(obj)
	if m, isMeta := obj.(metav1.Object); ok && isMeta {
		_, w.HelmHook = m.GetAnnotations()[HelmHookAnnotation]
	}
	return w, ok
}

func workloadOf(obj runtime.Object) (w Workload, ok bool) {
	k := KindInfoOf(obj)
	if k == nil || k.SpecPath == nil {
		return Workload{}, false
	}
	return Workload{Ref: RefOf(obj), Template: k.Template(obj), MetaPath: k.MetaPath, SpecPath: k.SpecPath}, true
}

// Labels the API server adds to a Job's pod template on create, unless the
// Job sets manualSelector. The validating webhook sees them; the offline
// checker adds them too so both front ends agree (controller-uid is unknown
// before the Job exists, so a selector on it cannot be checked offline).
const (
	jobNameLabel       = "batch.kubernetes.io/job-name"
	legacyJobNameLabel = "job-name"
)

// jobTemplate returns the Job's pod template with the labels the API server
// adds; the Job itself is not modified.
func jobTemplate(job *batchv1.Job) *corev1.PodTemplateSpec {
	if job.Spec.ManualSelector != nil && *job.Spec.ManualSelector || job.Name == "" {
		return &job.Spec.Template
	}
	_, has := job.Spec.Template.Labels[jobNameLabel]
	_, hasLegacy := job.Spec.Template.Labels[legacyJobNameLabel]
	if has && hasLegacy {
		return &job.Spec.Template
	}
	t := job.Spec.Template.DeepCopy()
	if t.Labels == nil {
		t.Labels = map[string]string{}
	}
	if !has {
		t.Labels[jobNameLabel] = job.Name
	}
	if !hasLegacy {
		t.Labels[legacyJobNameLabel] = job.Name
	}
	return t
}

// Derived reports whether an object's pod template is a copy of its
// controller's (a ReplicaSet of a Deployment, a Job of a CronJob, a Pod of
// any controller): selector lookups report the owner, not each copy.
func Derived(obj runtime.Object) bool {
	if k := KindInfoOf(obj); k == nil || !k.ControllerCopies {
		return false
	}
	m, ok := obj.(metav1.Object)
	return ok && metav1.GetControllerOf(m) != nil
}
