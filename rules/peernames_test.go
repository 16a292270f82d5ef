package rules_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/headless-guard/headless-guard/rules"
)

// TestFindPeerNames reads per-pod names in the shapes configurations
// write them, and nothing else.
func TestFindPeerNames(t *testing.T) {
	type name struct {
		Set       string
		Ordinal   int
		Service   string
		Namespace string
		Domain    string
	}
	zk := func(n int) name { return name{"zk", n, "zk-hs", "", ""} }
	cases := []struct {
		text string
		want []name
	}{
		{"zk-0.zk-hs", []name{zk(0)}},
		{"zk-0.zk-hs:2181,zk-1.zk-hs:2181;zk-2.zk-hs:2181 zk-3.zk-hs", []name{zk(0), zk(1), zk(2), zk(3)}},
		{"server.1=zk-0.zk-hs.default.svc.cluster.local:2888:3888", []name{{"zk", 0, "zk-hs", "default", "cluster.local"}}},
		{"http://etcd-1.etcd-headless.db.svc:2380", []name{{"etcd", 1, "etcd-headless", "db", ""}}},
		{"0@kafka-controller-0.kafka-controller-headless.default.svc.cluster.local:9093", []name{{"kafka-controller", 0, "kafka-controller-headless", "default", "cluster.local"}}},
		{`["zk-0.zk-hs","zk-1.zk-hs"]`, []name{zk(0), zk(1)}},
		{"'zk-2.zk-hs.prod'", []name{{"zk", 2, "zk-hs", "prod", ""}}},
		{"etcd0=http://etcd-0.etcd:2380", []name{{"etcd", 0, "etcd", "", ""}}},
		{"web-10.nginx.", []name{{"web", 10, "nginx", "", ""}}},
		// Not per-pod names.
		{"mysql-8.0.33", nil},     // a Service name starts with a letter
		{"python-3.11-slim", nil}, // idem
		{"https://web-0.example.com/", []name{{"web", 0, "example", "com", ""}}}, // the shape of a name in namespace `com`: HG013 does not judge it (not Qualified)
		{"https://web-0.example.co.uk/", nil},                                    // another domain
		{"my.web-0.nginx", nil},                                                  // a label of a longer name
		{"$(POD_NAME).zk-hs", nil},                                               // a name the pod makes at run time
		{"web-01.nginx", nil},                                                    // no pod ordinal has a leading zero
		{"web-.nginx", nil},
		{"", nil},
	}
	for _, tc := range cases {
		t.Run(tc.text, func(t *testing.T) {
			var got []name
			for _, p := range rules.FindPeerNames(tc.text, rules.ConfigSource{}) {
				got = append(got, name{p.Set, p.Ordinal, p.Service, p.Namespace, p.Domain})
			}
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("FindPeerNames(%q) (-want +got):\n%s", tc.text, diff)
			}
		})
	}
}
