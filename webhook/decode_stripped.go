package webhook

import (
	"bytes"
	"encoding/json"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/headless-guard/headless-guard/rules"
)

// strippedDecoders decode the objects of admission requests straight into
// the form rules.Strip leaves them in, which is all the rules read: the
// decoder skips managedFields, foreign annotations (the last-applied
// configuration among them), status, volume claim templates and every
// container field but name, ports and restartPolicy instead of allocating
// them, which is most of a StatefulSet's bytes (of a StatefulSet's
// containers, also the configuration that may name its peers). They are
// keyed by kind name; the version is the one of rules.Kinds. Adding a kind
// to rules.Kinds adds an entry here: until then decoders decodes it whole
// and strips it (correct, but it allocates what the rules never read), and
// TestEveryKindHasAStrippedDecoder fails. TestDecodeStrippedIsStrip holds
// them equal to a full decode followed by rules.Strip.
var strippedDecoders = map[string]func([]byte) (runtime.Object, error){
	rules.KindStatefulSet: decodeAs(func(in *struct {
		metav1.TypeMeta
		Metadata strippedMeta `json:"metadata"`
		Spec     struct {
			appsv1.StatefulSetSpec
			Template             strippedConfigTemplate `json:"template"`
			VolumeClaimTemplates skipJSON               `json:"volumeClaimTemplates"`
		} `json:"spec"`
	}) runtime.Object {
		out := &appsv1.StatefulSet{TypeMeta: in.TypeMeta, ObjectMeta: in.Metadata.get(), Spec: in.Spec.StatefulSetSpec}
		out.Spec.Template = in.Spec.Template.get()
		return out
	}),
	rules.KindService: decodeAs(func(in *struct {
		metav1.TypeMeta
		Metadata strippedMeta       `json:"metadata"`
		Spec     corev1.ServiceSpec `json:"spec"`
	}) runtime.Object {
		return &corev1.Service{TypeMeta: in.TypeMeta, ObjectMeta: in.Metadata.get(), Spec: in.Spec}
	}),
	rules.KindPod: decodeAs(func(in *struct {
		metav1.TypeMeta
		Metadata strippedMeta    `json:"metadata"`
		Spec     strippedPodSpec `json:"spec"`
	}) runtime.Object {
		return &corev1.Pod{TypeMeta: in.TypeMeta, ObjectMeta: in.Metadata.get(), Spec: in.Spec.get()}
	}),
	rules.KindDeployment: decodeAs(func(in *struct {
		metav1.TypeMeta
		Metadata strippedMeta `json:"metadata"`
		Spec     struct {
			appsv1.DeploymentSpec
			Template strippedTemplate `json:"template"`
		} `json:"spec"`
	}) runtime.Object {
		out := &appsv1.Deployment{TypeMeta: in.TypeMeta, ObjectMeta: in.Metadata.get(), Spec: in.Spec.DeploymentSpec}
		out.Spec.Template = in.Spec.Template.get()
		return out
	}),
	rules.KindReplicaSet: decodeAs(func(in *struct {
		metav1.TypeMeta
		Metadata strippedMeta `json:"metadata"`
		Spec     struct {
			appsv1.ReplicaSetSpec
			Template strippedTemplate `json:"template"`
		} `json:"spec"`
	}) runtime.Object {
		out := &appsv1.ReplicaSet{TypeMeta: in.TypeMeta, ObjectMeta: in.Metadata.get(), Spec: in.Spec.ReplicaSetSpec}
		out.Spec.Template = in.Spec.Template.get()
		return out
	}),
	rules.KindDaemonSet: decodeAs(func(in *struct {
		metav1.TypeMeta
		Metadata strippedMeta `json:"metadata"`
		Spec     struct {
			appsv1.DaemonSetSpec
			Template strippedTemplate `json:"template"`
		} `json:"spec"`
	}) runtime.Object {
		out := &appsv1.DaemonSet{TypeMeta: in.TypeMeta, ObjectMeta: in.Metadata.get(), Spec: in.Spec.DaemonSetSpec}
		out.Spec.Template = in.Spec.Template.get()
		return out
	}),
	rules.KindJob: decodeAs(func(in *struct {
		metav1.TypeMeta
		Metadata strippedMeta    `json:"metadata"`
		Spec     strippedJobSpec `json:"spec"`
	}) runtime.Object {
		return &batchv1.Job{TypeMeta: in.TypeMeta, ObjectMeta: in.Metadata.get(), Spec: in.Spec.get()}
	}),
	rules.KindCronJob: decodeAs(func(in *struct {
		metav1.TypeMeta
		Metadata strippedMeta `json:"metadata"`
		Spec     struct {
			batchv1.CronJobSpec
			JobTemplate struct {
				metav1.ObjectMeta `json:"metadata"`
				Spec              strippedJobSpec `json:"spec"`
			} `json:"jobTemplate"`
		} `json:"spec"`
	}) runtime.Object {
		out := &batchv1.CronJob{TypeMeta: in.TypeMeta, ObjectMeta: in.Metadata.get(), Spec: in.Spec.CronJobSpec}
		out.Spec.JobTemplate = batchv1.JobTemplateSpec{ObjectMeta: in.Spec.JobTemplate.ObjectMeta, Spec: in.Spec.JobTemplate.Spec.get()}
		return out
	}),
}

// decoders are the decoders of the kinds of rules.Kinds, each at its one
// version: the stripped one, or a whole decode followed by rules.Strip for
// a kind strippedDecoders lacks.
var decoders = func() map[schema.GroupVersionKind]func([]byte) (runtime.Object, error) {
	m := make(map[schema.GroupVersionKind]func([]byte) (runtime.Object, error), len(rules.Kinds))
	for _, k := range rules.Kinds {
		if d, ok := strippedDecoders[k.Name]; ok {
			m[k.GVK] = d
			continue
		}
		m[k.GVK] = func(data []byte) (runtime.Object, error) {
			obj := k.New()
			if err := json.Unmarshal(data, obj); err != nil {
				return nil, err
			}
			rules.Strip(obj)
			return obj, nil
		}
	}
	return m
}()

// decodeAs decodes into the shadow type T and builds the typed object.
func decodeAs[T any](build func(*T) runtime.Object) func([]byte) (runtime.Object, error) {
	return func(data []byte) (runtime.Object, error) {
		in := new(T)
		if err := json.Unmarshal(data, in); err != nil {
			return nil, err
		}
		return build(in), nil
	}
}

// skipJSON is a field the rules never read: the decoder steps over it.
type skipJSON struct{}

// UnmarshalJSON ignores the value.
func (*skipJSON) UnmarshalJSON([]byte) error { return nil }

// strippedMeta is object metadata without managedFields and with only
// headless-guard's annotations. Its fields of those names shadow the
// embedded ones.
type strippedMeta struct {
	metav1.ObjectMeta
	ManagedFields skipJSON       `json:"managedFields"`
	Annotations   ownAnnotations `json:"annotations"`
}

func (m *strippedMeta) get() metav1.ObjectMeta {
	om := m.ObjectMeta
	om.Annotations = m.Annotations
	return om
}

// annotationPrefix is the prefix of headless-guard's annotations; with
// helm's hook marker, they are what rules.KeepsAnnotation keeps.
const annotationPrefix = "headless-guard.io/"

// ownAnnotations keeps the annotations rules.Strip keeps.
type ownAnnotations map[string]string

// UnmarshalJSON decodes the annotations only when one can be kept: an API
// server writes keys unescaped, so a map without headless-guard's prefix,
// without helm's hook key and without a \u escape has none.
func (a *ownAnnotations) UnmarshalJSON(data []byte) error {
	*a = nil
	if !bytes.Contains(data, []byte(annotationPrefix)) && !bytes.Contains(data, []byte(rules.HelmHookAnnotation)) && !bytes.Contains(data, []byte(`\u`)) {
		return nil
	}
	var all map[string]string
	if err := json.Unmarshal(data, &all); err != nil {
		return err
	}
	for k, v := range all {
		if rules.KeepsAnnotation(k) {
			if *a == nil {
				*a = ownAnnotations{}
			}
			(*a)[k] = v
		}
	}
	return nil
}

// strippedTemplate is a pod template: metadata whole, the spec stripped.
type strippedTemplate struct {
	metav1.ObjectMeta `json:"metadata"`
	Spec              strippedPodSpec `json:"spec"`
}

func (t *strippedTemplate) get() corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{ObjectMeta: t.ObjectMeta, Spec: t.Spec.get()}
}

// strippedConfigTemplate is a StatefulSet's pod template: what
// strippedTemplate keeps, plus the configuration that may name the
// set's peers (rules.StripContainerKeepConfig, rules.StripVolumesKeepConfig).
type strippedConfigTemplate struct {
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Hostname       string                    `json:"hostname"`
		Subdomain      string                    `json:"subdomain"`
		Containers     []strippedConfigContainer `json:"containers"`
		InitContainers []strippedConfigContainer `json:"initContainers"`
		Volumes        []corev1.Volume           `json:"volumes"`
	} `json:"spec"`
}

type strippedConfigContainer struct {
	Name          string                         `json:"name"`
	Ports         []corev1.ContainerPort         `json:"ports"`
	RestartPolicy *corev1.ContainerRestartPolicy `json:"restartPolicy"`
	Command       []string                       `json:"command"`
	Args          []string                       `json:"args"`
	Env           []corev1.EnvVar                `json:"env"`
	EnvFrom       []corev1.EnvFromSource         `json:"envFrom"`
}

func (t *strippedConfigTemplate) get() corev1.PodTemplateSpec {
	containers := func(cs []strippedConfigContainer) []corev1.Container {
		out := make([]corev1.Container, len(cs))
		for i, c := range cs {
			out[i] = rules.StripContainerKeepConfig(corev1.Container{Name: c.Name, Ports: c.Ports, RestartPolicy: c.RestartPolicy, Command: c.Command, Args: c.Args, Env: c.Env, EnvFrom: c.EnvFrom})
		}
		return out
	}
	return corev1.PodTemplateSpec{ObjectMeta: t.ObjectMeta, Spec: corev1.PodSpec{
		Hostname:       t.Spec.Hostname,
		Subdomain:      t.Spec.Subdomain,
		Containers:     containers(t.Spec.Containers),
		InitContainers: containers(t.Spec.InitContainers),
		Volumes:        rules.StripVolumesKeepConfig(t.Spec.Volumes),
	}}
}

type strippedJobSpec struct {
	batchv1.JobSpec
	Template strippedTemplate `json:"template"`
}

func (s *strippedJobSpec) get() batchv1.JobSpec {
	out := s.JobSpec
	out.Template = s.Template.get()
	return out
}

// strippedPodSpec is what rules.Strip keeps of a pod spec.
type strippedPodSpec struct {
	Hostname       string              `json:"hostname"`
	Subdomain      string              `json:"subdomain"`
	Containers     []strippedContainer `json:"containers"`
	InitContainers []strippedContainer `json:"initContainers"`
}

type strippedContainer struct {
	Name          string                         `json:"name"`
	Ports         []corev1.ContainerPort         `json:"ports"`
	RestartPolicy *corev1.ContainerRestartPolicy `json:"restartPolicy"`
}

func (s *strippedPodSpec) get() corev1.PodSpec {
	containers := func(cs []strippedContainer) []corev1.Container {
		out := make([]corev1.Container, len(cs))
		for i, c := range cs {
			out[i] = corev1.Container{Name: c.Name, Ports: c.Ports, RestartPolicy: c.RestartPolicy}
		}
		return out
	}
	return corev1.PodSpec{
		Hostname:       s.Hostname,
		Subdomain:      s.Subdomain,
		Containers:     containers(s.Containers),
		InitContainers: containers(s.InitContainers),
	}
}
