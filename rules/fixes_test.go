package rules_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/headless-guard/headless-guard/rules"
)

// applyPatches applies an RFC 6902 patch to obj through its JSON form, as the
// API server applies a mutating webhook's patch, and decodes the result into
// a fresh object of the same type.
func applyPatches[T runtime.Object](t *testing.T, obj T, patches []rules.PatchOp) T {
	t.Helper()
	doc, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(patches)
	if err != nil {
		t.Fatal(err)
	}
	patch, err := jsonpatch.DecodePatch(raw)
	if err != nil {
		t.Fatalf("decode patch %s: %v", raw, err)
	}
	patched, err := patch.Apply(doc)
	if err != nil {
		t.Fatalf("apply patch %s: %v", raw, err)
	}
	out := reflect.New(reflect.TypeOf(obj).Elem()).Interface().(T)
	if err := json.Unmarshal(patched, out); err != nil {
		t.Fatal(err)
	}
	return out
}

func planFixes(t *testing.T, req *rules.Request, opts rules.FixOptions, objs ...runtime.Object) *rules.FixPlan {
	t.Helper()
	plan, err := rules.PlanFixes(req, index(objs...), opts)
	if err != nil {
		t.Fatalf("PlanFixes: %v", err)
	}
	return plan
}

// appliedOf projects what a plan says it did onto fix and rule.
func appliedOf(plan *rules.FixPlan) [][2]string {
	var out [][2]string
	for _, a := range plan.Applied {
		out = append(out, [2]string{a.Fix, a.Rule})
		if a.Description == "" {
			out = append(out, [2]string{a.Fix, "no description"})
		}
	}
	return out
}

// injected is the Service inject-service creates for mkStatefulSet.
func injected(name string, ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Namespace:   "default",
			Labels:      map[string]string{"app.kubernetes.io/managed-by": "headless-guard"},
			Annotations: map[string]string{"headless-guard.io/statefulset": "web"},
		},
		Spec: corev1.ServiceSpec{
			ClusterIP: corev1.ClusterIPNone,
			Selector:  map[string]string{"app": "nginx"},
			Ports:     ports,
		},
	}
}

var webPort = corev1.ServicePort{Name: "web", Port: 80, TargetPort: intstr.FromString("web"), Protocol: corev1.ProtocolTCP}

var (
	injectOnly = rules.FixOptions{InjectService: true}
	labelsOnly = rules.FixOptions{FixLabels: true}
)

func TestPlanFixesInjectService(t *testing.T) {
	cases := []struct {
		name        string
		req         *rules.Request
		objs        []runtime.Object
		opts        rules.FixOptions
		wantPatches []rules.PatchOp
		wantCreate  []*corev1.Service
		wantApplied [][2]string
	}{{
		name:        "missing Service is created headless with one named port per named container port",
		req:         create(mkStatefulSet()),
		opts:        injectOnly,
		wantCreate:  []*corev1.Service{injected("nginx-headless", webPort)},
		wantApplied: [][2]string{{rules.FixInjectService, "HG002"}},
	}, {
		name:        "selector is matchLabels, not the template labels",
		req:         create(mkStatefulSet(withTemplateLabels(map[string]string{"app": "nginx", "version": "1.27"}))),
		opts:        injectOnly,
		wantCreate:  []*corev1.Service{injected("nginx-headless", webPort)},
		wantApplied: [][2]string{{rules.FixInjectService, "HG002"}},
	}, {
		name: "ports: sidecar and UDP ports included; unnamed, plain init and duplicate ports left out",
		req: create(mkStatefulSet(withInitContainer(new(corev1.ContainerRestartPolicyAlways)), func(sts *appsv1.StatefulSet) {
			spec := &sts.Spec.Template.Spec
			spec.InitContainers = append(spec.InitContainers, corev1.Container{
				Name: "setup", Ports: []corev1.ContainerPort{{Name: "setup", ContainerPort: 7000}},
			})
			spec.Containers[0].Ports = append(spec.Containers[0].Ports,
				corev1.ContainerPort{ContainerPort: 8080},
				corev1.ContainerPort{Name: "dns", ContainerPort: 53, Protocol: corev1.ProtocolUDP},
			)
			spec.Containers = append(spec.Containers, corev1.Container{
				Name: "proxy", Ports: []corev1.ContainerPort{{Name: "web", ContainerPort: 8443}},
			})
		})),
		opts: injectOnly,
		wantCreate: []*corev1.Service{injected("nginx-headless",
			corev1.ServicePort{Name: "metrics", Port: 9090, TargetPort: intstr.FromString("metrics"), Protocol: corev1.ProtocolTCP},
			webPort,
			corev1.ServicePort{Name: "dns", Port: 53, TargetPort: intstr.FromString("dns"), Protocol: corev1.ProtocolUDP},
		)},
		wantApplied: [][2]string{{rules.FixInjectService, "HG002"}},
	}, {
		name: "publishNotReadyAddresses on request",
		req:  create(mkStatefulSet()),
		opts: rules.FixOptions{InjectService: true, PublishNotReadyAddresses: true},
		wantCreate: []*corev1.Service{func() *corev1.Service {
			svc := injected("nginx-headless", webPort)
			svc.Spec.PublishNotReadyAddresses = true
			return svc
		}()},
		wantApplied: [][2]string{{rules.FixInjectService, "HG002"}},
	}, {
		name:        "empty serviceName is set to the StatefulSet name first",
		req:         create(mkStatefulSet(withServiceName(""))),
		opts:        injectOnly,
		wantPatches: []rules.PatchOp{{Op: "add", Path: "/spec/serviceName", Value: "web"}},
		wantCreate:  []*corev1.Service{injected("web", webPort)},
		wantApplied: [][2]string{{rules.FixInjectService, "HG001"}, {rules.FixInjectService, "HG002"}},
	}, {
		name:        "empty serviceName and a Service named like the StatefulSet exists",
		req:         create(mkStatefulSet(withServiceName(""))),
		objs:        objs(mkService(func(svc *corev1.Service) { svc.Name = "web" })),
		opts:        injectOnly,
		wantPatches: []rules.PatchOp{{Op: "add", Path: "/spec/serviceName", Value: "web"}},
		wantApplied: [][2]string{{rules.FixInjectService, "HG001"}},
	}, {
		name: "Service exists",
		req:  create(mkStatefulSet()),
		objs: objs(mkService()),
		opts: injectOnly,
	}, {
		name: "an existing non-headless Service is not replaced",
		req:  create(mkStatefulSet()),
		objs: objs(mkService(withClusterIP(""))),
		opts: injectOnly,
	}, {
		name: "inject-service not enabled",
		req:  create(mkStatefulSet()),
		opts: rules.FixOptions{},
	}, {
		name: "update is never fixed",
		req:  update(mkStatefulSet(), mkStatefulSet(withReplicas(4))),
		opts: injectOnly,
	}, {
		name: "no matchLabels to select the pods with: nothing is created",
		req: create(mkStatefulSet(func(sts *appsv1.StatefulSet) {
			sts.Spec.Selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
				Key: "app", Operator: metav1.LabelSelectorOpIn, Values: []string{"nginx"},
			}}}
		})),
		opts: injectOnly,
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			plan := planFixes(t, tc.req, tc.opts, tc.objs...)
			if diff := cmp.Diff(tc.wantPatches, plan.Patches, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Patches (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantCreate, plan.Create, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Create (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantApplied, appliedOf(plan), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Applied (-want +got):\n%s", diff)
			}
			if plan.Empty() != (len(tc.wantPatches) == 0 && len(tc.wantCreate) == 0) {
				t.Errorf("Empty() = %v", plan.Empty())
			}
		})
	}
}

func TestInjectedServiceWithoutMatchLabels(t *testing.T) {
	sts := mkStatefulSet(func(sts *appsv1.StatefulSet) { sts.Spec.Selector = &metav1.LabelSelector{} })
	if svc, err := rules.InjectedService(sts, "nginx-headless", false); err == nil {
		t.Errorf("InjectedService without matchLabels = %v, want an error", svc)
	}
}

func TestPlanFixesFixLabels(t *testing.T) {
	cases := []struct {
		name        string
		sts         *appsv1.StatefulSet
		selector    map[string]string
		opts        rules.FixOptions
		wantPatches []rules.PatchOp
	}{{
		name:     "adds a missing key, escaping `/` in the JSON pointer",
		sts:      mkStatefulSet(),
		selector: map[string]string{"app": "nginx", "app.kubernetes.io/name": "web"},
		opts:     labelsOnly,
		wantPatches: []rules.PatchOp{
			{Op: "add", Path: "/spec/template/metadata/labels/app.kubernetes.io~1name", Value: "web"},
		},
	}, {
		name:     "adds every missing key in key order",
		sts:      mkStatefulSet(),
		selector: map[string]string{"app": "nginx", "tier": "web", "app.kubernetes.io/part-of": "shop"},
		opts:     labelsOnly,
		wantPatches: []rules.PatchOp{
			{Op: "add", Path: "/spec/template/metadata/labels/app.kubernetes.io~1part-of", Value: "shop"},
			{Op: "add", Path: "/spec/template/metadata/labels/tier", Value: "web"},
		},
	}, {
		name:     "adds a key whose value is empty",
		sts:      mkStatefulSet(),
		selector: map[string]string{"app": "nginx", "canary": ""},
		opts:     labelsOnly,
		wantPatches: []rules.PatchOp{
			{Op: "add", Path: "/spec/template/metadata/labels/canary", Value: ""},
		},
	}, {
		name:     "template without labels gets the whole map",
		sts:      mkStatefulSet(withTemplateLabels(nil)),
		selector: map[string]string{"app": "nginx"},
		opts:     labelsOnly,
		wantPatches: []rules.PatchOp{
			{Op: "add", Path: "/spec/template/metadata/labels", Value: map[string]string{"app": "nginx"}},
		},
	}, {
		name:     "a conflicting key blocks the whole fix",
		sts:      mkStatefulSet(),
		selector: map[string]string{"app": "mysql", "tier": "db"},
		opts:     labelsOnly,
	}, {
		name:     "controller-added keys are not copied into the template",
		sts:      mkStatefulSet(),
		selector: map[string]string{"app": "nginx", "statefulset.kubernetes.io/pod-name": "web-0"},
		opts:     labelsOnly,
	}, {
		name:     "nothing missing",
		sts:      mkStatefulSet(withTemplateLabels(map[string]string{"app": "nginx", "tier": "web"})),
		selector: map[string]string{"app": "nginx", "tier": "web"},
		opts:     labelsOnly,
	}, {
		name:     "Service without a selector",
		sts:      mkStatefulSet(),
		selector: nil,
		opts:     labelsOnly,
	}, {
		name:     "fix-labels not enabled",
		sts:      mkStatefulSet(),
		selector: map[string]string{"app": "nginx", "tier": "web"},
		opts:     injectOnly,
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			svc := mkService(withSelector(tc.selector))
			plan := planFixes(t, create(tc.sts), tc.opts, svc)
			if diff := cmp.Diff(tc.wantPatches, plan.Patches, cmpopts.EquateEmpty()); diff != "" {
				t.Fatalf("Patches (-want +got):\n%s", diff)
			}
			if len(plan.Create) != 0 {
				t.Errorf("fix-labels must not create Services: %v", plan.Create)
			}
			if len(tc.wantPatches) == 0 {
				return
			}
			if diff := cmp.Diff([][2]string{{rules.FixLabels, "HG004"}}, appliedOf(plan)); diff != "" {
				t.Errorf("Applied (-want +got):\n%s", diff)
			}
			fixed := applyPatches(t, tc.sts, plan.Patches)
			for k, v := range tc.selector {
				if got, ok := fixed.Spec.Template.Labels[k]; !ok || got != v {
					t.Errorf("fixed template labels %v lack %s=%s", fixed.Spec.Template.Labels, k, v)
				}
			}
		})
	}
}

func TestPlanFixesNamePorts(t *testing.T) {
	udp := corev1.ProtocolUDP
	cases := []struct {
		name        string
		req         *rules.Request
		objs        []runtime.Object
		opts        rules.FixOptions
		wantPatches []rules.PatchOp
	}{{
		name:        "named after the container port the Service port targets",
		req:         create(mkService(withPorts(corev1.ServicePort{Port: 80}))),
		objs:        objs(mkStatefulSet()),
		opts:        labelsOnly,
		wantPatches: []rules.PatchOp{{Op: "add", Path: "/spec/ports/0/name", Value: "web"}},
	}, {
		name:        "named after a named targetPort",
		req:         create(mkService(withPorts(corev1.ServicePort{Port: 9090, TargetPort: intstr.FromString("metrics")}))),
		opts:        labelsOnly,
		wantPatches: []rules.PatchOp{{Op: "add", Path: "/spec/ports/0/name", Value: "metrics"}},
	}, {
		name:        "no container port matches: tcp-<port>",
		req:         create(mkService(withPorts(corev1.ServicePort{Port: 80}))),
		objs:        objs(mkDeployment()),
		opts:        labelsOnly,
		wantPatches: []rules.PatchOp{{Op: "add", Path: "/spec/ports/0/name", Value: "tcp-80"}},
	}, {
		name:        "UDP: udp-<port>",
		req:         create(mkService(withPorts(corev1.ServicePort{Port: 53, Protocol: udp}))),
		objs:        objs(mkStatefulSet()),
		opts:        labelsOnly,
		wantPatches: []rules.PatchOp{{Op: "add", Path: "/spec/ports/0/name", Value: "udp-53"}},
	}, {
		name: "container port name already taken by another Service port: tcp-<port>",
		req: create(mkService(withPorts(
			corev1.ServicePort{Name: "web", Port: 8080},
			corev1.ServicePort{Port: 80},
		))),
		objs:        objs(mkStatefulSet()),
		opts:        labelsOnly,
		wantPatches: []rules.PatchOp{{Op: "add", Path: "/spec/ports/1/name", Value: "tcp-80"}},
	}, {
		// "8080-http" is a valid container port name but not a DNS-1035
		// label, which the fix requires of a Service port name.
		name: "container port name unusable as a Service port name: tcp-<port>",
		req:  create(mkService(withPorts(corev1.ServicePort{Port: 8080}))),
		objs: objs(mkStatefulSet(func(sts *appsv1.StatefulSet) {
			sts.Spec.Template.Spec.Containers[0].Ports = []corev1.ContainerPort{{Name: "8080-http", ContainerPort: 8080}}
		})),
		opts:        labelsOnly,
		wantPatches: []rules.PatchOp{{Op: "add", Path: "/spec/ports/0/name", Value: "tcp-8080"}},
	}, {
		name: "every port named",
		req:  create(mkService()),
		objs: objs(mkStatefulSet()),
		opts: labelsOnly,
	}, {
		name: "fix-labels not enabled",
		req:  create(mkService(withPorts(corev1.ServicePort{Port: 80}))),
		objs: objs(mkStatefulSet()),
		opts: injectOnly,
	}, {
		name: "update is never fixed",
		req:  update(mkService(), mkService(withPorts(corev1.ServicePort{Port: 80}))),
		objs: objs(mkStatefulSet()),
		opts: labelsOnly,
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			plan := planFixes(t, tc.req, tc.opts, tc.objs...)
			if diff := cmp.Diff(tc.wantPatches, plan.Patches, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Patches (-want +got):\n%s", diff)
			}
			var wantApplied [][2]string
			for range tc.wantPatches {
				wantApplied = append(wantApplied, [2]string{rules.FixNamePorts, "HG005"})
			}
			if diff := cmp.Diff(wantApplied, appliedOf(plan), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Applied (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPlanFixesLookupError(t *testing.T) {
	errAPI := errors.New("connection refused")
	lookup := failingLookup{Index: index(), serviceErr: errAPI}
	plan, err := rules.PlanFixes(create(mkStatefulSet()), lookup, rules.FixOptions{InjectService: true, FixLabels: true})
	if !errors.Is(err, errAPI) {
		t.Fatalf("PlanFixes error = %v, want the lookup's error", err)
	}
	if plan != nil {
		t.Errorf("PlanFixes returned a plan on a failed lookup: %+v", plan)
	}
}

// TestFixesAreIdempotentAndRepair applies each plan, plans again with the
// created Services in the index (a reinvocation of the mutating webhook) and
// expects nothing more to do; then it evaluates the fixed objects and expects
// no denial.
func TestFixesAreIdempotentAndRepair(t *testing.T) {
	both := rules.FixOptions{InjectService: true, FixLabels: true}
	cases := []struct {
		name string
		obj  runtime.Object
		objs []runtime.Object
		opts rules.FixOptions
	}{{
		name: "inject a missing Service",
		obj:  mkStatefulSet(),
		opts: both,
	}, {
		name: "inject with an empty serviceName",
		obj:  mkStatefulSet(withServiceName("")),
		opts: both,
	}, {
		name: "inject a Service with sidecar and UDP ports",
		obj: mkStatefulSet(withInitContainer(new(corev1.ContainerRestartPolicyAlways)), func(sts *appsv1.StatefulSet) {
			c := &sts.Spec.Template.Spec.Containers[0]
			c.Ports = append(c.Ports, corev1.ContainerPort{Name: "dns", ContainerPort: 53, Protocol: corev1.ProtocolUDP})
		}),
		opts: both,
	}, {
		name: "add missing selector labels",
		obj:  mkStatefulSet(),
		objs: objs(mkService(withSelector(map[string]string{"app": "nginx", "app.kubernetes.io/name": "web", "tier": ""}))),
		opts: both,
	}, {
		name: "add labels to a template without labels",
		obj:  mkStatefulSet(withTemplateLabels(nil)),
		objs: objs(mkService()),
		opts: labelsOnly,
	}, {
		name: "name a port after its container port",
		obj:  mkService(withPorts(corev1.ServicePort{Port: 80})),
		objs: objs(mkStatefulSet()),
		opts: labelsOnly,
	}, {
		name: "name ports by protocol and number",
		obj: mkService(withPorts(
			corev1.ServicePort{Port: 80},
			corev1.ServicePort{Port: 53, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromInt(80)},
		)),
		objs: objs(mkDeployment()),
		opts: labelsOnly,
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			plan := planFixes(t, create(tc.obj), tc.opts, tc.objs...)
			if plan.Empty() {
				t.Fatal("the first plan is empty: the case fixes nothing")
			}
			fixed := applyPatches(t, tc.obj, plan.Patches)
			after := append(append([]runtime.Object{}, tc.objs...), servicesAsObjects(plan.Create)...)

			again := planFixes(t, create(fixed), tc.opts, after...)
			if !again.Empty() {
				t.Errorf("second plan is not empty: patches %+v, create %d", again.Patches, len(again.Create))
			}

			for _, req := range []*rules.Request{create(fixed)} {
				res := evaluate(t, req, after...)
				if res.Denied() {
					t.Errorf("fixed object is still denied:\n%s", describe(res.Findings))
				}
			}
			for _, svc := range plan.Create {
				res := evaluate(t, create(svc), append(after, fixed)...)
				if res.Denied() {
					t.Errorf("created Service %s is denied:\n%s", svc.Name, describe(res.Findings))
				}
			}
		})
	}
}

func servicesAsObjects(list []*corev1.Service) []runtime.Object {
	out := make([]runtime.Object, 0, len(list))
	for _, svc := range list {
		out = append(out, svc)
	}
	return out
}

// TestServiceToInject is the one decision the webhook's warning and the
// Injector share: they must never disagree on whether a Service is made.
func TestServiceToInject(t *testing.T) {
	on := rules.FixOptions{InjectService: true, PublishNotReadyAddresses: true}
	cases := []struct {
		name     string
		opts     rules.FixOptions
		nsLabels map[string]string
		sts      *appsv1.StatefulSet
		want     bool
	}{
		{"flag on", on, nil, mkStatefulSet(), true},
		{"flag off", rules.FixOptions{}, nil, mkStatefulSet(), false},
		{"namespace label on", rules.FixOptions{}, map[string]string{rules.InjectLabel: "true"}, mkStatefulSet(), true},
		{"object label cannot opt in", rules.FixOptions{}, nil, mkStatefulSet(func(s *appsv1.StatefulSet) {
			s.Labels = map[string]string{rules.InjectLabel: "true"}
		}), false},
		{"object label opts out", on, nil, mkStatefulSet(func(s *appsv1.StatefulSet) {
			s.Labels = map[string]string{rules.InjectLabel: "false"}
		}), false},
		{"skip all", on, nil, mkStatefulSet(func(s *appsv1.StatefulSet) {
			s.Annotations = map[string]string{rules.SkipAnnotation: rules.SkipAll}
		}), false},
		{"no serviceName", on, nil, mkStatefulSet(func(s *appsv1.StatefulSet) { s.Spec.ServiceName = "" }), false},
		{"serviceName no Service can have", on, nil, mkStatefulSet(func(s *appsv1.StatefulSet) { s.Spec.ServiceName = "Nginx.Headless" }), false},
		{"no matchLabels", on, nil, mkStatefulSet(func(s *appsv1.StatefulSet) { s.Spec.Selector = &metav1.LabelSelector{} }), false},
		// The operator that owns it owns its Service: an injected one would
		// make its create fail with AlreadyExists, or be deleted by it.
		{"controller-owned", on, nil, mkStatefulSet(stsOwnedBy("RedisReplication", "cache")), false},
		{"owned, not by a controller", on, nil, mkStatefulSet(func(s *appsv1.StatefulSet) {
			s.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: "anchor", UID: "u1"}}
		}), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			svc := tc.opts.ServiceToInject(tc.sts, tc.nsLabels)
			if (svc != nil) != tc.want {
				t.Fatalf("ServiceToInject = %v, want a Service: %v", svc, tc.want)
			}
			if svc == nil {
				return
			}
			if svc.Name != tc.sts.Spec.ServiceName || svc.Namespace != tc.sts.Namespace || svc.Spec.ClusterIP != corev1.ClusterIPNone {
				t.Errorf("Service %s/%s clusterIP %q, want %s/%s headless", svc.Namespace, svc.Name, svc.Spec.ClusterIP, tc.sts.Namespace, tc.sts.Spec.ServiceName)
			}
			if svc.Spec.PublishNotReadyAddresses != tc.opts.PublishNotReadyAddresses {
				t.Errorf("publishNotReadyAddresses = %v, want the option's %v", svc.Spec.PublishNotReadyAddresses, tc.opts.PublishNotReadyAddresses)
			}
		})
	}
}
