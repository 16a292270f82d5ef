package rules_test

import (
	"testing"

	"github.com/headless-guard/headless-guard/rules"
)

func hg001Cases() (successCases, errorCases []ruleCase) {
	successCases = []ruleCase{{
		name: "serviceName names an existing headless Service",
		req:  create(mkStatefulSet()),
		objs: objs(mkService()),
	}, {
		name: "update of a StatefulSet with serviceName set",
		req:  update(mkStatefulSet(), mkStatefulSet(withReplicas(5))),
		objs: objs(mkService()),
	}}
	errorCases = []ruleCase{{
		name: "empty serviceName is a warning and not HG002",
		req:  create(mkStatefulSet(withServiceName(""))),
		objs: objs(mkService()),
		want: []want{{"HG001", warn, required, "spec.serviceName"}},
	}, {
		name: "empty serviceName with no Service at all is still not HG002",
		req:  create(mkStatefulSet(withServiceName(""))),
		want: []want{{"HG001", warn, required, "spec.serviceName"}},
	}, {
		name:   "override deny denies a new StatefulSet",
		req:    create(mkStatefulSet(withServiceName(""))),
		policy: override("HG001", rules.ActionDeny),
		want:   []want{{"HG001", deny, required, "spec.serviceName"}},
	}, {
		name:   "override deny still only warns on update: serviceName is immutable",
		req:    update(mkStatefulSet(withServiceName("")), mkStatefulSet(withServiceName(""), withReplicas(1))),
		policy: override("HG001", rules.ActionDeny),
		want:   []want{{"HG001", warn, required, "spec.serviceName"}},
	}}
	return successCases, errorCases
}

func TestHG001ServiceNameSet(t *testing.T) {
	successCases, errorCases := hg001Cases()
	runRuleCases(t, successCases, errorCases)
}
