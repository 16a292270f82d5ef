package rules_test

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/headless-guard/headless-guard/rules"
)

func withName(name string) func(*appsv1.StatefulSet) {
	return func(sts *appsv1.StatefulSet) { sts.Name = name }
}

// domainOfLength returns a cluster domain of n characters made of short labels.
func domainOfLength(n int) string {
	var b strings.Builder
	for b.Len() < n {
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(strings.Repeat("d", min(40, n-b.Len())))
	}
	return strings.TrimSuffix(b.String(), ".")
}

func hg007Cases() (successCases, errorCases []ruleCase) {
	name52, name53, name62 := strings.Repeat("a", 52), strings.Repeat("a", 53), strings.Repeat("a", 62)
	// `web-2.nginx-headless.default.svc.` is 33 characters.
	fqdn253 := &rules.Policy{ClusterDomain: domainOfLength(253 - 33)}
	fqdn254 := &rules.Policy{ClusterDomain: domainOfLength(254 - 33)}

	successCases = []ruleCase{{
		name: "short name",
		req:  create(mkStatefulSet()),
		objs: objs(mkService()),
	}, {
		name: "name of exactly 52 characters",
		req:  create(mkStatefulSet(withName(name52))),
		objs: objs(mkService()),
	}, {
		name: "name of 52 characters with the highest ordinal still fits a DNS label",
		req: create(mkStatefulSet(withName(name52), withReplicas(1), func(sts *appsv1.StatefulSet) {
			sts.Spec.Ordinals = &appsv1.StatefulSetOrdinals{Start: 2147483646}
		})),
		objs: objs(mkService()),
	}, {
		name:   "FQDN of exactly 253 characters",
		req:    create(mkStatefulSet()),
		objs:   objs(mkService()),
		policy: fqdn253,
	}, {
		name: "update is not checked: the name is immutable",
		req:  update(mkStatefulSet(withName(name62)), mkStatefulSet(withName(name62), withReplicas(1))),
		objs: objs(mkService()),
	}}
	errorCases = []ruleCase{{
		name: "name of 53 characters leaves no room for the revision hash",
		req:  create(mkStatefulSet(withName(name53))),
		objs: objs(mkService()),
		want: []want{{"HG007", deny, tooLong, "metadata.name"}},
	}, {
		name: "name of 62 characters also makes the pod hostname too long",
		req:  create(mkStatefulSet(withName(name62))),
		objs: objs(mkService()),
		want: []want{
			{"HG007", deny, tooLong, "metadata.name"},
			{"HG007", deny, invalid, "metadata.name"},
		},
	}, {
		name:   "FQDN over 253 characters",
		req:    create(mkStatefulSet()),
		objs:   objs(mkService()),
		policy: fqdn254,
		want:   []want{{"HG007", deny, invalid, "metadata.name"}},
	}, {
		name:   "mode warn",
		req:    create(mkStatefulSet(withName(name53))),
		objs:   objs(mkService()),
		policy: &rules.Policy{Mode: rules.ModeWarn},
		want:   []want{{"HG007", warn, tooLong, "metadata.name"}},
	}, {
		name:   "override warn",
		req:    create(mkStatefulSet(withName(name53))),
		objs:   objs(mkService()),
		policy: override("HG007", rules.ActionWarn),
		want:   []want{{"HG007", warn, tooLong, "metadata.name"}},
	}}
	return successCases, errorCases
}

func TestHG007NameLengths(t *testing.T) {
	if got := len(domainOfLength(220)); got != 220 {
		t.Fatalf("domainOfLength(220) has %d characters", got)
	}
	successCases, errorCases := hg007Cases()
	runRuleCases(t, successCases, errorCases)
}
