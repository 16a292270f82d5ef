package check

import (
	"runtime"
	"testing"
	"weak"

	"github.com/headless-guard/headless-guard/internal/benchmanifests"
	"github.com/headless-guard/headless-guard/internal/manifest"
	"github.com/headless-guard/headless-guard/rules"
)

// TestUnitsAreLetGo checks that a run holds the objects of one unit at a
// time: when a unit is evaluated, the sets and objects of the units before
// it are gone, but when fixing (the fixes edit them after).
func TestUnitsAreLetGo(t *testing.T) {
	dir := t.TempDir()
	if err := benchmanifests.WriteUnits(dir, 300, 50, 3); err != nil {
		t.Fatal(err)
	}
	for _, fixing := range []bool{false, true} {
		var sets []weak.Pointer[manifest.Set]
		var objects []weak.Pointer[manifest.Object]
		held := 0
		opts := Options{Paths: []string{dir}, fixing: fixing, complete: func(_ *rules.CompactIndex, set *manifest.Set) error {
			runtime.GC()
			for i := range sets {
				if sets[i].Value() != nil || objects[i].Value() != nil {
					held++
				}
			}
			sets, objects = append(sets, weak.Make(set)), append(objects, weak.Make(set.Objects[0]))
			return nil
		}}
		res, err := load(opts)
		if err != nil {
			t.Fatal(err)
		}
		if len(sets) != 3 || len(res.Report.Objects) != 300 {
			t.Fatalf("fixing=%v: %d units, %d objects; want 3 and 300", fixing, len(sets), len(res.Report.Objects))
		}
		want := 0
		if fixing {
			want = 1 + 2 // the first unit when the second is checked, both when the third is
		}
		if held != want {
			t.Errorf("fixing=%v: units held while the next were checked: %d, want %d", fixing, held, want)
		}
	}
}
