package rules_test

import (
	"slices"
	"testing"

	"github.com/headless-guard/headless-guard/rules"
)

// TestPodTemplateOwnerKindsAreTheTable: PodTemplateOwnerKinds (the kinds of
// HG012 and of the workloads webhook) are exactly the kinds of rules.Kinds
// that have a pod template, but StatefulSet (whose Service HG002-HG006
// check), each once. The list keeps its own order, which docs/rules.md
// shows; this keeps it from missing a kind added to the table.
func TestPodTemplateOwnerKindsAreTheTable(t *testing.T) {
	var want []string
	for _, k := range rules.Kinds {
		if k.MetaPath != nil && k.Name != rules.KindStatefulSet {
			want = append(want, k.Name)
		}
	}
	got := slices.Clone(rules.PodTemplateOwnerKinds)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("PodTemplateOwnerKinds = %v, want the template owners of rules.Kinds but StatefulSet: %v", got, want)
	}
	for _, name := range rules.PodTemplateOwnerKinds {
		if k := rules.KindInfoByName(name); k == nil || k.Template(k.New()) == nil {
			t.Errorf("%s: no pod template in rules.Kinds", name)
		}
	}
}
