package dnsexplain_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/headless-guard/headless-guard/internal/dnsexplain"
	"github.com/headless-guard/headless-guard/internal/testobj"
	"github.com/headless-guard/headless-guard/rules"
)

// A cluster in memory: what the StatefulSet and EndpointSlice controllers
// make of the objects a test states, following their code
// (k8s.io/endpointslice podToEndpoint: ready is publishNotReadyAddresses or
// ready and not terminating; a hostname when the pod's `spec.subdomain` is
// the Service). test/e2e checks the explanation against a real cluster.
type cluster struct {
	objs   dnsexplain.Objects
	nextIP int
}

// pods creates the pods of sts as the StatefulSet controller does, all
// Running and Ready with an IP, and returns them.
func (c *cluster) pods(sts *appsv1.StatefulSet) []*corev1.Pod {
	var out []*corev1.Pod
	for _, h := range rules.StatefulSetHostnames(sts) {
		c.nextIP++
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: h, Namespace: sts.Namespace, Labels: map[string]string{"statefulset.kubernetes.io/pod-name": h},
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: sts.Name, Controller: new(true)}}},
			Spec: *sts.Spec.Template.Spec.DeepCopy(),
			Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: fmt.Sprintf("10.244.%d.%d", c.nextIP/256, c.nextIP%256),
				Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
		}
		p.Status.PodIPs = []corev1.PodIP{{IP: p.Status.PodIP}}
		for k, v := range sts.Spec.Template.Labels {
			p.Labels[k] = v
		}
		p.Spec.Hostname = h
		if sts.Spec.ServiceName != "" {
			p.Spec.Subdomain = sts.Spec.ServiceName
		}
		out = append(out, p)
	}
	return out
}

func podReady(p *corev1.Pod) bool {
	return slices.ContainsFunc(p.Status.Conditions, func(c corev1.PodCondition) bool {
		return c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue
	})
}

// add adds objects, then makes every Service's EndpointSlices from the
// pods: one slice per set of resolved ports.
func (c *cluster) add(objs ...any) {
	for _, o := range objs {
		switch o := o.(type) {
		case *corev1.Service:
			c.objs.Services = append(c.objs.Services, o)
		case *appsv1.StatefulSet:
			c.objs.StatefulSets = append(c.objs.StatefulSets, o)
		case *corev1.Pod:
			c.objs.Pods = append(c.objs.Pods, o)
		case []*corev1.Pod:
			c.objs.Pods = append(c.objs.Pods, o...)
		case *corev1.ConfigMap:
			c.objs.ConfigMaps = append(c.objs.ConfigMaps, o)
		default:
			panic(fmt.Sprintf("cluster.add: %T", o))
		}
	}
}

func (c *cluster) endpointSlices() {
	c.objs.EndpointSlices = nil
	for _, svc := range c.objs.Services {
		if len(svc.Spec.Selector) == 0 {
			continue
		}
		byPorts := map[string]*discoveryv1.EndpointSlice{}
		var keys []string
		for _, p := range c.objs.Pods {
			if p.Namespace != svc.Namespace || !rules.Selects(svc.Spec.Selector, p.Labels) || p.Status.PodIP == "" {
				continue
			}
			var ports []discoveryv1.EndpointPort
			var key string
			for i := range svc.Spec.Ports {
				sp := &svc.Spec.Ports[i]
				n, ok := rules.TargetPortNumber(sp, &p.Spec)
				if !ok {
					continue
				}
				proto := sp.Protocol
				if proto == "" {
					proto = corev1.ProtocolTCP
				}
				ports = append(ports, discoveryv1.EndpointPort{Name: new(sp.Name), Port: new(n), Protocol: &proto})
				key += fmt.Sprintf("%s/%d,", sp.Name, n)
			}
			sl := byPorts[key]
			if sl == nil {
				addressType := discoveryv1.AddressTypeIPv4
				if strings.Contains(p.Status.PodIP, ":") {
					addressType = discoveryv1.AddressTypeIPv6
				}
				sl = &discoveryv1.EndpointSlice{
					ObjectMeta:  metav1.ObjectMeta{Name: fmt.Sprintf("%s-%d", svc.Name, len(keys)), Namespace: svc.Namespace, Labels: map[string]string{discoveryv1.LabelServiceName: svc.Name}},
					AddressType: addressType, Ports: ports,
				}
				byPorts[key] = sl
				keys = append(keys, key)
			}
			terminating := p.DeletionTimestamp != nil
			ready := svc.Spec.PublishNotReadyAddresses || podReady(p) && !terminating
			ep := discoveryv1.Endpoint{Addresses: []string{p.Status.PodIP},
				Conditions: discoveryv1.EndpointConditions{Ready: new(ready), Serving: new(podReady(p)), Terminating: new(terminating)},
				TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: p.Namespace, Name: p.Name}}
			if p.Spec.Hostname != "" && p.Spec.Subdomain == svc.Name {
				ep.Hostname = new(p.Spec.Hostname)
			}
			sl.Endpoints = append(sl.Endpoints, ep)
		}
		for _, k := range keys {
			c.objs.EndpointSlices = append(c.objs.EndpointSlices, byPorts[k])
		}
	}
}

func inNS(ns string) func(*appsv1.StatefulSet) { return testobj.InNamespace[*appsv1.StatefulSet](ns) }
func svcNS(ns string) func(*corev1.Service)    { return testobj.InNamespace[*corev1.Service](ns) }

func withEnv(name, value string) func(*appsv1.StatefulSet) {
	return func(sts *appsv1.StatefulSet) {
		c := &sts.Spec.Template.Spec.Containers[0]
		c.Env = append(c.Env, corev1.EnvVar{Name: name, Value: value})
	}
}

func notReady(p *corev1.Pod) {
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse}}
}

// scenarios are one namespace each: the healthy seed, and each rule broken
// the way test/e2e breaks it (rules.Rule.DNS), with the rules the
// explanation must name.
type scenario struct {
	ns    string
	build func(c *cluster, ns string)
	// rules are the rule IDs the report must name (in a record's reasons
	// or a note); none for a healthy namespace.
	rules []string
	// missing is whether an expected answer is missing (exit status 1).
	missing bool
}

var scenarios = []scenario{{
	ns: "healthy",
	build: func(c *cluster, ns string) {
		sts := testobj.StatefulSet(inNS(ns))
		c.add(testobj.Service(svcNS(ns)), sts, c.pods(sts))
	},
}, {
	ns: "hg001",
	build: func(c *cluster, ns string) {
		sts := testobj.StatefulSet(inNS(ns), testobj.WithServiceName(""), testobj.WithReplicas(2))
		c.add(testobj.Service(svcNS(ns)), sts, c.pods(sts))
	},
	rules: []string{rules.HG001},
}, {
	ns: "hg002",
	build: func(c *cluster, ns string) {
		sts := testobj.StatefulSet(inNS(ns), testobj.WithServiceName("nginx"), testobj.WithReplicas(2))
		c.add(testobj.Service(svcNS(ns)), sts, c.pods(sts))
	},
	rules: []string{rules.HG002}, missing: true,
}, {
	ns: "hg003",
	build: func(c *cluster, ns string) {
		// Its peers by name: they resolve through a ClusterIP Service too
		// (CoreDNS answers an endpoint's hostname under any Service).
		sts := testobj.StatefulSet(inNS(ns), testobj.WithReplicas(2), withEnv("PEERS", "web-0.nginx-headless:80,web-1.nginx-headless:80"))
		c.add(testobj.Service(svcNS(ns), testobj.WithClusterIP("10.96.0.12"), func(s *corev1.Service) { s.Spec.ClusterIPs = []string{"10.96.0.12"} }), sts, c.pods(sts))
	},
	rules: []string{rules.HG003}, missing: true,
}, {
	ns: "hg004",
	build: func(c *cluster, ns string) {
		sts := testobj.StatefulSet(inNS(ns), testobj.WithReplicas(2))
		c.add(testobj.Service(svcNS(ns), testobj.WithSelector(map[string]string{"app": "nginx", "tier": "web"})), sts, c.pods(sts))
	},
	rules: []string{rules.HG004}, missing: true,
}, {
	ns: "hg005",
	build: func(c *cluster, ns string) {
		sts := testobj.StatefulSet(inNS(ns), testobj.WithReplicas(2))
		c.add(testobj.Service(svcNS(ns), testobj.WithPorts(corev1.ServicePort{Port: 80})), sts, c.pods(sts))
	},
	rules: []string{rules.HG005},
}, {
	ns: "hg006",
	build: func(c *cluster, ns string) {
		sts := testobj.StatefulSet(inNS(ns), testobj.WithReplicas(2))
		c.add(testobj.Service(svcNS(ns), testobj.WithPorts(corev1.ServicePort{Name: "web", Port: 80},
			corev1.ServicePort{Name: "metrics", Port: 9090, TargetPort: intstr.FromString("metrics")})), sts, c.pods(sts))
	},
	rules: []string{rules.HG006}, missing: true,
}, {
	ns: "hg007",
	build: func(c *cluster, ns string) {
		sts := testobj.StatefulSet(inNS(ns), testobj.Named[*appsv1.StatefulSet]("web-"+strings.Repeat("abcdefgh", 7)), testobj.WithReplicas(2))
		// The controller cannot create the pods: none exist.
		c.add(testobj.Service(svcNS(ns)), sts)
	},
	rules: []string{rules.HG007}, missing: true,
}, {
	ns: "hg008",
	build: func(c *cluster, ns string) {
		sts := testobj.StatefulSet(inNS(ns), testobj.WithReplicas(2))
		c.nextIP++
		frontend := testobj.Pod(func(p *corev1.Pod) {
			p.Name, p.Namespace, p.Labels = "nginx-frontend-7d9c5", ns, map[string]string{"app": "nginx", "tier": "frontend"}
			p.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: fmt.Sprintf("10.244.0.%d", c.nextIP), Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
		})
		c.add(testobj.Service(svcNS(ns)), sts, c.pods(sts), frontend)
	},
	rules: []string{rules.HG008},
}, {
	ns: "hg009",
	build: func(c *cluster, ns string) {
		// Its peers in a ConfigMap: web-1's name does not resolve, web-2
		// is no pod of the two replicas.
		sts := testobj.StatefulSet(inNS(ns), testobj.WithReplicas(2), func(sts *appsv1.StatefulSet) {
			sts.Spec.Template.Spec.Volumes = []corev1.Volume{{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "web-config"}}}}}
		})
		pods := c.pods(sts)
		notReady(pods[1])
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web-config"},
			Data: map[string]string{"peers.conf": "server.0=web-0.nginx-headless.hg009.svc.cluster.local:2888\nserver.1=web-1.nginx-headless.hg009.svc.cluster.local:2888\nserver.2=web-2.nginx-headless.hg009.svc.cluster.local:2888\n"}}
		c.add(testobj.Service(svcNS(ns)), sts, pods, cm)
	},
	rules: []string{rules.HG009, rules.HG013}, missing: true,
}, {
	ns: "hg012",
	build: func(c *cluster, ns string) {
		c.nextIP++
		c.add(testobj.Pod(func(p *corev1.Pod) {
			p.Name, p.Namespace, p.Labels = "busybox1", ns, map[string]string{"name": "busybox"}
			p.Spec.Hostname, p.Spec.Subdomain = "busybox-1", "busybox-subdomain"
			p.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: fmt.Sprintf("10.244.0.%d", c.nextIP), Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
		}))
	},
	rules: []string{rules.HG012}, missing: true,
}, {
	ns: "terminating",
	build: func(c *cluster, ns string) {
		sts := testobj.StatefulSet(inNS(ns), testobj.WithReplicas(2))
		pods := c.pods(sts)
		pods[0].DeletionTimestamp = &metav1.Time{}
		c.add(testobj.Service(svcNS(ns)), sts, pods)
	},
	missing: true,
}, {
	ns: "ipv6",
	build: func(c *cluster, ns string) {
		// A single-stack IPv6 cluster: AAAA records, the same names.
		sts := testobj.StatefulSet(inNS(ns), testobj.WithReplicas(2))
		pods := c.pods(sts)
		for i, p := range pods {
			p.Status.PodIP = fmt.Sprintf("fd00:10:244::%d", i+1)
			p.Status.PodIPs = []corev1.PodIP{{IP: p.Status.PodIP}}
		}
		c.add(testobj.Service(svcNS(ns), func(s *corev1.Service) { s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol} }), sts, pods)
	},
}, {
	ns: "hg013",
	build: func(c *cluster, ns string) {
		// Every record is there; the peer list goes through the wrong
		// Service (test/e2e's HG013 case).
		sts := testobj.StatefulSet(inNS(ns), testobj.WithReplicas(2), withEnv("PEERS", "web-0.nginx:80,web-1.nginx:80"))
		c.add(testobj.Service(svcNS(ns)), sts, c.pods(sts))
	},
	rules: []string{rules.HG013},
}, {
	ns: "scaling",
	build: func(c *cluster, ns string) {
		sts := testobj.StatefulSet(inNS(ns), testobj.WithReplicas(3))
		// The controller has made two of three pods so far.
		c.add(testobj.Service(svcNS(ns)), sts, c.pods(sts)[:2])
	},
	missing: true,
}}

func build(scs ...scenario) *dnsexplain.Objects {
	c := &cluster{}
	for _, sc := range scs {
		sc.build(c, sc.ns)
	}
	c.endpointSlices()
	return &c.objs
}

// namedRules are the rule IDs a report names, in reasons and notes.
func namedRules(rep *dnsexplain.Report) []string {
	var out []string
	add := func(rs []dnsexplain.Reason) {
		for _, r := range rs {
			if r.Rule != "" && !slices.Contains(out, r.Rule) {
				out = append(out, r.Rule)
			}
		}
	}
	for _, g := range rep.Groups {
		add(g.Notes)
		for _, r := range g.Records {
			add(r.Reasons)
		}
	}
	slices.Sort(out)
	return out
}

// TestExplainNamesTheRule: for each rule broken the way test/e2e breaks
// it, the explanation of the namespace names that rule, and says whether a
// name that should resolve does not.
func TestExplainNamesTheRule(t *testing.T) {
	for _, sc := range scenarios {
		t.Run(sc.ns, func(t *testing.T) {
			rep, err := dnsexplain.Explain(build(sc), dnsexplain.Target{Namespace: sc.ns}, dnsexplain.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if got := namedRules(rep); !slices.Equal(got, sc.rules) {
				var buf bytes.Buffer
				_ = dnsexplain.RenderText(&buf, rep)
				t.Errorf("names rules %v, want %v\n%s", got, sc.rules, buf.String())
			}
			if rep.Missing() != sc.missing {
				t.Errorf("Missing() = %v, want %v", rep.Missing(), sc.missing)
			}
		})
	}
}

// TestExplainHealthy: every name the seed's StatefulSet should have is
// there, with the pods' addresses.
func TestExplainHealthy(t *testing.T) {
	rep, err := dnsexplain.Explain(build(scenarios[0]), dnsexplain.Target{Kind: rules.KindStatefulSet, Namespace: "healthy", Name: "web"}, dnsexplain.Options{ClusterDomain: "example.internal"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range rep.Groups[0].Records {
		got[r.Type+" "+r.Name] = strings.Join(r.Objects, " ")
		if r.Missing || len(r.Reasons) > 0 {
			t.Errorf("%s %s: missing %v, reasons %v", r.Type, r.Name, r.Missing, r.Reasons)
		}
	}
	want := map[string]string{
		"A web-0.nginx-headless.healthy.svc.example.internal":       "10.244.0.1",
		"A web-1.nginx-headless.healthy.svc.example.internal":       "10.244.0.2",
		"A web-2.nginx-headless.healthy.svc.example.internal":       "10.244.0.3",
		"A nginx-headless.healthy.svc.example.internal":             "10.244.0.1 10.244.0.2 10.244.0.3",
		"SRV _web._tcp.nginx-headless.healthy.svc.example.internal": "web-0.nginx-headless.healthy.svc.example.internal:80 web-1.nginx-headless.healthy.svc.example.internal:80 web-2.nginx-headless.healthy.svc.example.internal:80",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("records:\n got %v\nwant %v", got, want)
	}
}

// TestExplainTargets: a pod, a Service, a StatefulSet by name, and names
// that are not there.
func TestExplainTargets(t *testing.T) {
	objs := build(scenarios...)
	pod, err := dnsexplain.Explain(objs, dnsexplain.Target{Kind: rules.KindPod, Namespace: "hg009", Name: "web-1"}, dnsexplain.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(pod.Groups) != 1 || len(pod.Groups[0].Records) != 1 || pod.Groups[0].Records[0].Pod != "web-1" || !pod.Missing() {
		t.Errorf("pod/web-1: want its one record, missing: %+v", pod.Groups)
	}
	svc, err := dnsexplain.Explain(objs, dnsexplain.Target{Kind: rules.KindService, Namespace: "hg008", Name: "nginx-headless"}, dnsexplain.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(svc.Groups) != 1 || svc.Groups[0].Service != "nginx-headless" || len(svc.Groups[0].Records) != 4 {
		t.Errorf("service/nginx-headless: want one group of 2 pod records, the A and the SRV record: %+v", svc.Groups)
	}
	all, err := dnsexplain.Explain(objs, dnsexplain.Target{}, dnsexplain.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all.Groups) != len(scenarios) {
		t.Errorf("all namespaces: %d groups, want one per scenario (%d)", len(all.Groups), len(scenarios))
	}
	for _, tg := range []dnsexplain.Target{
		{Kind: rules.KindStatefulSet, Namespace: "healthy", Name: "db"},
		{Kind: rules.KindPod, Namespace: "healthy", Name: "web-9"},
		{Kind: rules.KindService, Namespace: "other", Name: "nginx-headless"},
	} {
		var nf *dnsexplain.NotFoundError
		if _, err := dnsexplain.Explain(objs, tg, dnsexplain.Options{}); err == nil || !errorsAs(err, &nf) {
			t.Errorf("%s: err %v, want NotFoundError", tg, err)
		}
	}
	if _, err := dnsexplain.Explain(objs, dnsexplain.Target{Kind: rules.KindPod, Namespace: "hg008", Name: "nginx-frontend-7d9c5"}, dnsexplain.Options{}); err == nil || !strings.Contains(err.Error(), "expects no DNS name of its own") {
		t.Errorf("a pod of no StatefulSet without subdomain: err %v", err)
	}
}

// TestGolden: the text and JSON reports of every scenario. Regenerate
// with UPDATE_GOLDEN=1 go test ./internal/dnsexplain/ and review the diff.
func TestGolden(t *testing.T) {
	rep, err := dnsexplain.Explain(build(scenarios...), dnsexplain.Target{}, dnsexplain.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rep.DomainSource = "the default"
	for _, f := range []struct {
		file   string
		render func(*bytes.Buffer) error
	}{
		{"all-namespaces.txt.golden", func(b *bytes.Buffer) error { return dnsexplain.RenderText(b, rep) }},
		{"all-namespaces.json.golden", func(b *bytes.Buffer) error { return dnsexplain.RenderJSON(b, rep) }},
	} {
		t.Run(f.file, func(t *testing.T) {
			var buf bytes.Buffer
			if err := f.render(&buf); err != nil {
				t.Fatal(err)
			}
			golden(t, f.file, buf.Bytes())
		})
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if os.Getenv("UPDATE_GOLDEN") != "" {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run UPDATE_GOLDEN=1 go test ./internal/dnsexplain/ to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (UPDATE_GOLDEN=1 to regenerate, then review the diff):\n%s", path, got)
	}
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }

// BenchmarkExplainAllNamespaces: 2,000 StatefulSets of 5 pods in 200
// namespaces, every name explained.
func BenchmarkExplainAllNamespaces(b *testing.B) {
	c := &cluster{}
	for i := range 2000 {
		ns := fmt.Sprintf("ns-%d", i%200)
		sts := testobj.StatefulSet(inNS(ns), testobj.Named[*appsv1.StatefulSet](fmt.Sprintf("web-%d", i)), testobj.WithReplicas(5),
			testobj.WithServiceName(fmt.Sprintf("svc-%d", i)), testobj.WithTemplateLabels(map[string]string{"app": fmt.Sprintf("web-%d", i)}))
		svc := testobj.Service(svcNS(ns), testobj.Named[*corev1.Service](fmt.Sprintf("svc-%d", i)), testobj.WithSelector(map[string]string{"app": fmt.Sprintf("web-%d", i)}))
		c.add(svc, sts, c.pods(sts))
	}
	c.endpointSlices()
	b.ResetTimer()
	for b.Loop() {
		rep, err := dnsexplain.Explain(&c.objs, dnsexplain.Target{}, dnsexplain.Options{})
		if err != nil || len(rep.Groups) != 2000 {
			b.Fatal(err, len(rep.Groups))
		}
	}
}
