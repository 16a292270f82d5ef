package rules_test

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/headless-guard/headless-guard/rules"
)

func TestStatefulSetPodFQDNs(t *testing.T) {
	cases := []struct {
		name string
		sts  *appsv1.StatefulSet
		want []string
	}{{
		name: "three replicas from ordinal 0",
		sts:  mkStatefulSet(),
		want: []string{"web-0.nginx-headless.default.svc.cluster.local", "web-1.nginx-headless.default.svc.cluster.local", "web-2.nginx-headless.default.svc.cluster.local"},
	}, {
		name: "spec.ordinals.start moves the first ordinal",
		sts: mkStatefulSet(withReplicas(2), func(sts *appsv1.StatefulSet) {
			sts.Spec.Ordinals = &appsv1.StatefulSetOrdinals{Start: 5}
		}),
		want: []string{"web-5.nginx-headless.default.svc.cluster.local", "web-6.nginx-headless.default.svc.cluster.local"},
	}, {
		name: "replicas unset is one pod",
		sts:  mkStatefulSet(func(sts *appsv1.StatefulSet) { sts.Spec.Replicas = nil }),
		want: []string{"web-0.nginx-headless.default.svc.cluster.local"},
	}, {
		name: "scaled to zero has no names",
		sts:  mkStatefulSet(withReplicas(0)),
	}, {
		name: "no serviceName, no names",
		sts:  mkStatefulSet(withServiceName("")),
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := rules.StatefulSetPodFQDNs(tc.sts, "")
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestTargetPortNumber(t *testing.T) {
	spec := &mkStatefulSet().Spec.Template.Spec
	cases := []struct {
		name string
		port corev1.ServicePort
		want int32
		ok   bool
	}{
		{"targetPort unset is the port", corev1.ServicePort{Port: 8080}, 8080, true},
		{"numeric targetPort as it is", corev1.ServicePort{Port: 80, TargetPort: intstr.FromInt32(9000)}, 9000, true},
		{"named targetPort resolved to the container port", corev1.ServicePort{Port: 8080, TargetPort: intstr.FromString("web")}, 80, true},
		{"named targetPort no container has", corev1.ServicePort{Port: 8080, TargetPort: intstr.FromString("metrics")}, 0, false},
		{"named targetPort of another protocol", corev1.ServicePort{Port: 8080, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromString("web")}, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := rules.TargetPortNumber(&tc.port, spec)
			if got != tc.want || ok != tc.ok {
				t.Errorf("got %d, %v; want %d, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

// TestRemovedNames: HG010 and HG011 say which names a change removes,
// computed from the index (the governed StatefulSets and their replicas),
// and claim none where the old Service never served any.
func TestRemovedNames(t *testing.T) {
	unnamed := withPorts(corev1.ServicePort{Port: 80})
	cases := []struct {
		name     string
		req      *rules.Request
		objs     []runtime.Object
		contains string
		lacks    string
	}{{
		name:     "deleting the governing Service removes every pod's name",
		req:      remove(mkService()),
		objs:     objs(mkStatefulSet()),
		contains: "; removes 3 names: web-0.nginx-headless.default.svc.cluster.local, web-1.nginx-headless.default.svc.cluster.local, web-2.nginx-headless.default.svc.cluster.local",
		lacks:    "…",
	}, {
		name:     "the first few and the count",
		req:      remove(mkService()),
		objs:     objs(mkStatefulSet(withReplicas(50))),
		contains: "; removes 50 names: web-0.nginx-headless.default.svc.cluster.local, web-1.nginx-headless.default.svc.cluster.local, web-2.nginx-headless.default.svc.cluster.local, …",
	}, {
		name:  "deleting a ClusterIP Service removes no per-pod name: there was none",
		req:   remove(mkService(withClusterIP("10.0.0.10"))),
		objs:  objs(mkStatefulSet()),
		lacks: "removes",
	}, {
		name:  "deleting a Service whose selector missed the pods removes none",
		req:   remove(mkService(withSelector(map[string]string{"app": "other"}))),
		objs:  objs(mkStatefulSet()),
		lacks: "removes",
	}, {
		name:     "a selector turned away removes the pods' names",
		req:      update(mkService(), mkService(withSelector(map[string]string{"app": "nginx-v2"}))),
		objs:     objs(mkStatefulSet(withReplicas(1))),
		contains: "; removes 1 name: web-0.nginx-headless.default.svc.cluster.local",
	}, {
		name:     "a port name removed removes its SRV name",
		req:      update(mkService(), mkService(unnamed)),
		objs:     objs(mkStatefulSet()),
		contains: "; removes 1 name: _web._tcp.nginx-headless.default.svc.cluster.local",
	}, {
		name:     "a named targetPort no container has removes the port's SRV name",
		req:      update(mkService(), mkService(withPorts(corev1.ServicePort{Name: "web", Port: 80, TargetPort: intstr.FromString("http")}))),
		objs:     objs(mkStatefulSet()),
		contains: "; removes 1 name: _web._tcp.nginx-headless.default.svc.cluster.local",
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := evaluate(t, tc.req, tc.objs...)
			if len(res.Findings) == 0 {
				t.Fatal("no finding")
			}
			msg := res.Findings[0].Message()
			if tc.contains != "" && !strings.Contains(msg, tc.contains) {
				t.Errorf("message %q\nlacks %q", msg, tc.contains)
			}
			if tc.lacks != "" && strings.Contains(msg, tc.lacks) {
				t.Errorf("message %q\nsays %q", msg, tc.lacks)
			}
		})
	}
}
