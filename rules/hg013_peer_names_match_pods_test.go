package rules_test

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/headless-guard/headless-guard/internal/testobj"
	"github.com/headless-guard/headless-guard/rules"
)

func hg013Cases() (successCases, errorCases []ruleCase) {
	env0 := "spec.template.spec.containers[0].env[0].value"
	successCases = []ruleCase{{
		name: "every name is a pod of this StatefulSet through its Service",
		req:  create(mkStatefulSet(withEnv("PEERS", "web-0.nginx-headless:2380,web-1.nginx-headless.default:2380,web-2.nginx-headless.default.svc.cluster.local:2380"))),
		objs: objs(mkService()),
	}, {
		name: "names of another StatefulSet through another Service are not judged",
		req:  create(mkStatefulSet(withEnv("ZK", "zk-0.zk-hs:2181,zk-1.zk-hs:2181"))),
		objs: objs(mkService()),
	}, {
		name: "names of another domain are not judged",
		req:  create(mkStatefulSet(withEnv("PEERS", "web-7.nginx-headless.default.svc.other.example"))),
		objs: objs(mkService()),
	}, {
		name: "a name of the StatefulSet in an external domain is not a cluster name",
		req:  create(mkStatefulSet(withEnv("PUBLIC", "https://web-5.example.com/"))),
		objs: objs(mkService()),
	}, {
		name: "`<pod>.<service>.<x>` without `.svc` may be another domain: its namespace is not judged",
		req:  create(mkStatefulSet(withEnv("PUBLIC", "web-0.nginx-headless.com"))),
		objs: objs(mkService()),
	}, {
		name: "ordinals are not judged without spec.replicas",
		req:  create(mkStatefulSet(func(sts *appsv1.StatefulSet) { sts.Spec.Replicas = nil }, withEnv("PEERS", "web-9.nginx-headless"))),
		objs: objs(mkService()),
	}, {
		name: "spec.ordinals.start moves the first ordinal",
		req: create(mkStatefulSet(func(sts *appsv1.StatefulSet) {
			sts.Spec.Ordinals = &appsv1.StatefulSetOrdinals{Start: 5}
		}, withEnv("PEERS", "web-5.nginx-headless,web-7.nginx-headless"))),
		objs: objs(mkService()),
	}, {
		name: "a name of another StatefulSet that the same Service governs",
		req:  create(mkStatefulSet(withEnv("PRIMARY", "db-0.nginx-headless:5432"))),
		objs: objs(mkService(), mkStatefulSet(testobj.Named[*appsv1.StatefulSet]("db"))),
	}, {
		name: "the StatefulSet's name inside a longer label is not its pod",
		req:  create(mkStatefulSet(withEnv("OTHER", "my-web-0.cache,x.web-1.nginx"))),
		objs: objs(mkService()),
	}, {
		name: "a ConfigMap the offline index holds, naming only pods that exist",
		req:  create(mkStatefulSet(withConfigMapVol("cfg"))),
		objs: objs(mkService(), mkConfigMap("cfg", map[string]string{"zoo.cfg": "server.1=web-0.nginx-headless:2888:3888\nserver.2=web-1.nginx-headless:2888:3888\n"})),
	}}
	errorCases = []ruleCase{{
		name: "this StatefulSet's pod through another Service",
		req:  create(mkStatefulSet(withEnv("PEERS", "web-0.nginx:2380"))),
		objs: objs(mkService()),
		want: []want{{"HG013", warn, invalid, env0}},
	}, {
		name: "this StatefulSet's pod in another namespace",
		req:  create(mkStatefulSet(withEnv("PEERS", "http://web-0.nginx-headless.prod.svc.cluster.local:2380"))),
		objs: objs(mkService()),
		want: []want{{"HG013", warn, invalid, env0}},
	}, {
		name: "an ordinal the replicas do not reach",
		req:  create(mkStatefulSet(withEnv("PEERS", "web-0.nginx-headless,web-1.nginx-headless,web-2.nginx-headless,web-3.nginx-headless"))),
		objs: objs(mkService()),
		want: []want{{"HG013", warn, invalid, env0}},
	}, {
		name: "a renamed StatefulSet: names of one no StatefulSet is under this Service",
		req:  create(mkStatefulSet(withEnv("PEERS", "nginx-0.nginx-headless nginx-1.nginx-headless"))),
		objs: objs(mkService()),
		want: []want{{"HG013", warn, invalid, env0}, {"HG013", warn, invalid, env0}},
	}, {
		name: "in args and command too, each its own field",
		req: create(mkStatefulSet(func(sts *appsv1.StatefulSet) {
			c := &sts.Spec.Template.Spec.Containers[0]
			c.Command = []string{"sh", "-c", "until nslookup web-0.nginx; do sleep 1; done"}
			c.Args = []string{`--peers=["web-5.nginx-headless"]`}
		})),
		objs: objs(mkService()),
		want: []want{{"HG013", warn, invalid, "spec.template.spec.containers[0].args[0]"}, {"HG013", warn, invalid, "spec.template.spec.containers[0].command[2]"}},
	}, {
		name: "in a ConfigMap the offline index holds: the reference is the field",
		req:  create(mkStatefulSet(withConfigMapVol("cfg"))),
		objs: objs(mkService(), mkConfigMap("cfg", map[string]string{"zoo.cfg": "server.1=web-0.nginx:2888:3888\n"})),
		want: []want{{"HG013", warn, invalid, "spec.template.spec.volumes[0].configMap"}},
	}, {
		name: "in an envFrom ConfigMap",
		req: create(mkStatefulSet(func(sts *appsv1.StatefulSet) {
			sts.Spec.Template.Spec.Containers[0].EnvFrom = []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "env"}}}}
		})),
		objs: objs(mkService(), mkConfigMap("env", map[string]string{"PEERS": "web-0.nginx-headless.staging.svc"})),
		want: []want{{"HG013", warn, invalid, "spec.template.spec.containers[0].envFrom[0].configMapRef"}},
	}, {
		name:   "override deny",
		req:    create(mkStatefulSet(withEnv("PEERS", "web-0.nginx:2380"))),
		objs:   objs(mkService()),
		policy: override("HG013", rules.ActionDeny),
		want:   []want{{"HG013", deny, invalid, env0}},
	}, {
		name: "update with the same names re-states the defect: warning",
		req:  update(mkStatefulSet(withEnv("PEERS", "web-0.nginx")), mkStatefulSet(withEnv("PEERS", "web-0.nginx"), withReplicas(4))),
		objs: objs(mkService()),
		want: []want{{"HG013", warn, invalid, env0}},
	}}
	return successCases, errorCases
}

func TestHG013PeerNamesMatchPods(t *testing.T) {
	successCases, errorCases := hg013Cases()
	runRuleCases(t, successCases, errorCases)
}
