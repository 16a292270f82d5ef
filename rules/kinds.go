package rules

import (
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// KindInfo is what headless-guard knows of one kind the rules read. Kinds
// is the one table of them: the decoders of both front ends, Strip, the
// cache and the lookups derive from it, so adding a kind is an entry here
// plus the rules that read it.
type KindInfo struct {
	// Name is the kind (KindStatefulSet, ...).
	Name string
	// GVK is the one version of it the rules read.
	GVK schema.GroupVersionKind
	// New returns an empty object of the kind.
	New func() runtime.Object
	// NewList returns an empty list of the kind.
	NewList func() runtime.Object
	// Template returns the object's pod template, or nil for a kind
	// without one (Service). For a Pod it is a template made of the Pod's
	// own metadata and spec. Where the table leaves it unset it is
	// OwnTemplate (set in init).
	Template func(obj runtime.Object) *corev1.PodTemplateSpec
	// OwnTemplate returns the pod template the object holds, to modify in
	// place (Template may return a copy: a Job's, with the labels the API
	// server adds), or nil for a kind without one (Service, Pod).
	OwnTemplate func(obj runtime.Object) *corev1.PodTemplateSpec
	// Selector returns the object's label selector, or nil (Service, Pod,
	// CronJob).
	Selector func(obj runtime.Object) *metav1.LabelSelector
	// MetaPath and SpecPath locate the template's metadata and spec in the
	// object (nil without a template; a Pod's own for a Pod).
	MetaPath, SpecPath *field.Path
	// ControllerCopies is true for kinds whose objects a controller
	// stamps out from its own template (ReplicaSet, Job, Pod): a copy with
	// a controller ownerReference is Derived.
	ControllerCopies bool
	// clearStatus drops what Strip drops besides metadata and the pod spec.
	clearStatus func(obj runtime.Object)
}

var (
	templatePath        = field.NewPath("spec", "template")
	cronJobTemplatePath = field.NewPath("spec", "jobTemplate", "spec", "template")
)

// Kinds are the kinds the rules read, Service first, then the pod-template
// owners (StatefulSet first).
var Kinds = []*KindInfo{
	{
		Name: KindService, GVK: corev1.SchemeGroupVersion.WithKind(KindService),
		New: func() runtime.Object { return &corev1.Service{} }, NewList: func() runtime.Object { return &corev1.ServiceList{} },
		Template:    func(runtime.Object) *corev1.PodTemplateSpec { return nil },
		clearStatus: func(o runtime.Object) { o.(*corev1.Service).Status = corev1.ServiceStatus{} },
	},
	{
		Name: KindStatefulSet, GVK: appsv1.SchemeGroupVersion.WithKind(KindStatefulSet),
		New: func() runtime.Object { return &appsv1.StatefulSet{} }, NewList: func() runtime.Object { return &appsv1.StatefulSetList{} },
		OwnTemplate: func(o runtime.Object) *corev1.PodTemplateSpec { return &o.(*appsv1.StatefulSet).Spec.Template },
		Selector:    func(o runtime.Object) *metav1.LabelSelector { return o.(*appsv1.StatefulSet).Spec.Selector },
		MetaPath:    templatePath.Child("metadata"), SpecPath: templatePath.Child("spec"),
		clearStatus: func(o runtime.Object) {
			sts := o.(*appsv1.StatefulSet)
			sts.Status, sts.Spec.VolumeClaimTemplates = appsv1.StatefulSetStatus{}, nil
		},
	},
	{
		Name: KindDeployment, GVK: appsv1.SchemeGroupVersion.WithKind(KindDeployment),
		New: func() runtime.Object { return &appsv1.Deployment{} }, NewList: func() runtime.Object { return &appsv1.DeploymentList{} },
		OwnTemplate: func(o runtime.Object) *corev1.PodTemplateSpec { return &o.(*appsv1.Deployment).Spec.Template },
		Selector:    func(o runtime.Object) *metav1.LabelSelector { return o.(*appsv1.Deployment).Spec.Selector },
		MetaPath:    templatePath.Child("metadata"), SpecPath: templatePath.Child("spec"),
		clearStatus: func(o runtime.Object) { o.(*appsv1.Deployment).Status = appsv1.DeploymentStatus{} },
	},
	{
		Name: KindReplicaSet, GVK: appsv1.SchemeGroupVersion.WithKind(KindReplicaSet),
		New: func() runtime.Object { return &appsv1.ReplicaSet{} }, NewList: func() runtime.Object { return &appsv1.ReplicaSetList{} },
		OwnTemplate: func(o runtime.Object) *corev1.PodTemplateSpec { return &o.(*appsv1.ReplicaSet).Spec.Template },
		Selector:    func(o runtime.Object) *metav1.LabelSelector { return o.(*appsv1.ReplicaSet).Spec.Selector },
		MetaPath:    templatePath.Child("metadata"), SpecPath: templatePath.Child("spec"), ControllerCopies: true,
		clearStatus: func(o runtime.Object) { o.(*appsv1.ReplicaSet).Status = appsv1.ReplicaSetStatus{} },
	},
	{
		Name: KindDaemonSet, GVK: appsv1.SchemeGroupVersion.WithKind(KindDaemonSet),
		New: func() runtime.Object { return &appsv1.DaemonSet{} }, NewList: func() runtime.Object { return &appsv1.DaemonSetList{} },
		OwnTemplate: func(o runtime.Object) *corev1.PodTemplateSpec { return &o.(*appsv1.DaemonSet).Spec.Template },
		Selector:    func(o runtime.Object) *metav1.LabelSelector { return o.(*appsv1.DaemonSet).Spec.Selector },
		MetaPath:    templatePath.Child("metadata"), SpecPath: templatePath.Child("spec"),
		clearStatus: func(o runtime.Object) { o.(*appsv1.DaemonSet).Status = appsv1.DaemonSetStatus{} },
	},
	{
		Name: KindJob, GVK: batchv1.SchemeGroupVersion.WithKind(KindJob),
		New: func() runtime.Object { return &batchv1.Job{} }, NewList: func() runtime.Object { return &batchv1.JobList{} },
		OwnTemplate: func(o runtime.Object) *corev1.PodTemplateSpec { return &o.(*batchv1.Job).Spec.Template },
		Selector:    func(o runtime.Object) *metav1.LabelSelector { return o.(*batchv1.Job).Spec.Selector },
		Template:    func(o runtime.Object) *corev1.PodTemplateSpec { return jobTemplate(o.(*batchv1.Job)) },
		MetaPath:    templatePath.Child("metadata"), SpecPath: templatePath.Child("spec"), ControllerCopies: true,
		clearStatus: func(o runtime.Object) { o.(*batchv1.Job).Status = batchv1.JobStatus{} },
	},
	{
		Name: KindCronJob, GVK: batchv1.SchemeGroupVersion.WithKind(KindCronJob),
		New: func() runtime.Object { return &batchv1.CronJob{} }, NewList: func() runtime.Object { return &batchv1.CronJobList{} },
		OwnTemplate: func(o runtime.Object) *corev1.PodTemplateSpec {
			return &o.(*batchv1.CronJob).Spec.JobTemplate.Spec.Template
		},
		MetaPath: cronJobTemplatePath.Child("metadata"), SpecPath: cronJobTemplatePath.Child("spec"),
		clearStatus: func(o runtime.Object) { o.(*batchv1.CronJob).Status = batchv1.CronJobStatus{} },
	},
	{
		Name: KindPod, GVK: corev1.SchemeGroupVersion.WithKind(KindPod),
		New: func() runtime.Object { return &corev1.Pod{} }, NewList: func() runtime.Object { return &corev1.PodList{} },
		Template: func(o runtime.Object) *corev1.PodTemplateSpec {
			p := o.(*corev1.Pod)
			return &corev1.PodTemplateSpec{ObjectMeta: p.ObjectMeta, Spec: p.Spec}
		},
		MetaPath: field.NewPath("metadata"), SpecPath: field.NewPath("spec"), ControllerCopies: true,
		clearStatus: func(o runtime.Object) { o.(*corev1.Pod).Status = corev1.PodStatus{} },
	},
}

// KindInfoOf returns the table entry of a typed object, or nil for a type
// the rules do not read. It is the one type switch over the kinds.
func KindInfoOf(obj runtime.Object) *KindInfo {
	var name string
	switch obj.(type) {
	case *corev1.Service:
		name = KindService
	case *appsv1.StatefulSet:
		name = KindStatefulSet
	case *appsv1.Deployment:
		name = KindDeployment
	case *appsv1.ReplicaSet:
		name = KindReplicaSet
	case *appsv1.DaemonSet:
		name = KindDaemonSet
	case *batchv1.Job:
		name = KindJob
	case *batchv1.CronJob:
		name = KindCronJob
	case *corev1.Pod:
		name = KindPod
	default:
		return nil
	}
	return kindsByName[name]
}

// KindInfoByName returns the entry of a kind name, or nil.
func KindInfoByName(name string) *KindInfo { return kindsByName[name] }

var kindsByName = func() map[string]*KindInfo {
	m := make(map[string]*KindInfo, len(Kinds))
	for _, k := range Kinds {
		if m[k.Name] != nil {
			panic("rules: kind " + k.Name + " listed twice")
		}
		m[k.Name] = k
	}
	return m
}()

// Every package-level variable is set before init runs, and nothing reads
// a Template while they are.
func init() {
	for _, k := range Kinds {
		if k.Template == nil {
			k.Template = k.OwnTemplate
		}
	}
}
