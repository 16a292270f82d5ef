package check

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/headless-guard/headless-guard/internal/manifest"
	"github.com/headless-guard/headless-guard/internal/report"
	"github.com/headless-guard/headless-guard/rules"
)

// evaluateUnits evaluates each unit on its own (evaluate) and merges the
// reports in unit order.
func evaluateUnits(units []*unit, opts Options) (*report.Report, error) {
	reps := make([]*report.Report, 0, len(units))
	for _, u := range units {
		rep, err := evaluate(u.Set, opts)
		if err != nil {
			return nil, err
		}
		reps = append(reps, rep)
	}
	return mergeUnits(reps, opts), nil
}

// mergeUnits merges the reports of the units, in unit order; with none, it
// is an empty report.
func mergeUnits(reps []*report.Report, opts Options) *report.Report {
	if len(reps) == 0 {
		reg := opts.Registry
		if reg == nil {
			reg = rules.Default()
		}
		return &report.Report{Registry: reg}
	}
	return merge(reps)
}

// index builds the lookup over every object of a loaded set, as the
// cluster would hold them: of an object defined twice (shadowed), the
// definition applied last. ids are the index's ids of set.Objects (-1 for
// one not in it), in their order.
func index(set *manifest.Set, shadow map[*manifest.Object]*manifest.Object) (idx *rules.CompactIndex, ids []int32) {
	idx = rules.NewCompactIndex()
	ids = make([]int32, len(set.Objects))
	for i, o := range set.Objects {
		ids[i] = -1
		if _, hidden := shadow[o]; hidden {
			continue
		}
		switch {
		case o.Enc.Valid():
			ids[i] = idx.AddEncoded(&o.Enc)
			continue
		case o.Typed != nil:
			ids[i] = idx.Add(o.Typed)
			continue
		}
		// ConfigMaps are evidence that a StatefulSet uses its per-pod
		// names (rules/peernames.go). The loader does not type them: one
		// is decoded from its document when a rule first reads it, which
		// few do.
		if o.Ref.Kind == "ConfigMap" && o.Ref.APIVersion == "v1" {
			idx.AddConfigMapFunc(o.Ref.Namespace, o.Ref.Name, func() *corev1.ConfigMap {
				raw := o.Text()
				if raw == nil {
					return nil // the file changed since it was read
				}
				for _, cm := range configMapsOf(raw) {
					if cm.Name == o.Ref.Name {
						cm.Namespace = o.Ref.Namespace
						return cm
					}
				}
				return nil
			})
		}
	}
	return idx, ids
}

// configMapsOf decodes the ConfigMaps of one document: the document
// itself, or the items of a List. What does not decode is left out: the
// loader has already reported it.
func configMapsOf(raw []byte) []*corev1.ConfigMap {
	var doc struct {
		corev1.ConfigMap
		Items []corev1.ConfigMap `json:"items"`
	}
	if err := sigsyaml.Unmarshal(raw, &doc); err != nil {
		return nil
	}
	if len(doc.Items) == 0 {
		return []*corev1.ConfigMap{&doc.ConfigMap}
	}
	out := make([]*corev1.ConfigMap, 0, len(doc.Items))
	for i := range doc.Items {
		if doc.Items[i].Kind == "ConfigMap" {
			out = append(out, &doc.Items[i])
		}
	}
	return out
}

// evaluate runs the registry over every object of set but the definitions
// another one replaces (an object defined twice is checked as applied
// last), and reports what the rules do not see as notices.
func evaluate(set *manifest.Set, opts Options) (*report.Report, error) {
	reg := opts.Registry
	if reg == nil {
		reg = rules.Default()
	}
	shadow := shadowed(set, opts.Namespace)
	lookup, ids := index(set, shadow)
	if opts.complete != nil {
		if err := opts.complete(lookup, set); err != nil {
			return nil, err
		}
	}
	rep := &report.Report{Registry: reg, Files: len(set.Files), Documents: set.Documents(), Objects: make([]report.Object, 0, len(set.Objects))}
	rep.Notices = notices(set, shadow, reg)
	rep.Skipped = skippedOf(set.Skipped)
	objs := set.Objects
	if len(shadow) > 0 {
		objs = make([]*manifest.Object, 0, len(set.Objects))
		kept := ids[:0]
		for i, o := range set.Objects {
			if _, hidden := shadow[o]; !hidden {
				objs = append(objs, o)
				kept = append(kept, ids[i])
			}
		}
		ids = kept
	}
	outcomes := evaluateAll(objs, ids, reg, lookup, &opts.Policy)
	var all []report.Finding
	for i, o := range objs {
		entry := report.Object{Ref: o.Ref, Location: report.Location{File: o.File.Path, Line: o.Line()}}
		if out := &outcomes[i]; out.res != nil || out.err != nil {
			if out.err != nil {
				return nil, fmt.Errorf("%s:%d: %s: %w", o.File.Path, o.Line(), o.Ref, out.err)
			}
			entry.Skipped = out.res.Skipped
			for j, f := range out.res.Findings {
				all = append(all, report.Finding{Finding: f, Location: report.Location{File: o.File.Path, Line: out.lines[j]}})
			}
		}
		rep.Objects = append(rep.Objects, entry)
	}
	rep.Findings = dedupe(all)
	return rep, nil
}

// outcome is the evaluation of one object: its result, and the line of
// each finding.
type outcome struct {
	res   *rules.Result
	lines []int
	err   error
}

// evaluateChunk is how many objects a worker of evaluateAll takes at a time.
const evaluateChunk = 64

// evaluateAll evaluates the typed objects, on all cores when there are
// many: rules only read the objects and the index (the webhook evaluates
// concurrently too), and each finding's line is placed by its own object.
// ids are the objects' ids in idx. Each worker reads idx through a View of
// its own, and takes consecutive objects, which tend to refer to each
// other: an object and those its rules look up are decoded about once.
func evaluateAll(objs []*manifest.Object, ids []int32, reg *rules.Registry, idx *rules.CompactIndex, policy *rules.Policy) []outcome {
	out := make([]outcome, len(objs))
	evaluate := func(from, to int, view *rules.View) {
		var paths []string
		for i := from; i < to; i++ {
			o := objs[i]
			obj := o.Typed
			if obj == nil {
				if ids[i] < 0 {
					continue
				}
				obj = view.Object(ids[i])
			}
			res, err := reg.Evaluate(&rules.Request{Operation: rules.Create, Object: obj}, view, policy)
			if err != nil {
				out[i].err = err
				continue
			}
			out[i].res = res
			if len(res.Findings) > 0 {
				// One parse of the document places all of its findings.
				paths = paths[:0]
				for _, f := range res.Findings {
					paths = append(paths, f.Field())
				}
				out[i].lines = o.FieldLines(paths)
			}
		}
	}
	workers := min(runtime.GOMAXPROCS(0), (len(objs)+evaluateChunk-1)/evaluateChunk)
	if workers <= 1 {
		evaluate(0, len(objs), idx.View())
		return out
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			view := idx.View()
			for {
				from := int(next.Add(evaluateChunk)) - evaluateChunk
				if from >= len(objs) {
					return
				}
				evaluate(from, min(from+evaluateChunk, len(objs)), view)
			}
		}()
	}
	wg.Wait()
	return out
}

// dedupe reports each pair defect once: the checker sees both the StatefulSet
// and its Service, and each side reports the same defect under one Key. The
// Primary side is kept; without one in the input, the first finding is.
func dedupe(in []report.Finding) []report.Finding {
	hasPrimary := map[string]bool{}
	for _, f := range in {
		if f.Key != "" && f.Primary {
			hasPrimary[f.Key] = true
		}
	}
	seen := map[string]bool{}
	out := in[:0:0]
	for _, f := range in {
		if f.Key != "" {
			if hasPrimary[f.Key] && !f.Primary {
				continue
			}
			id := f.Key + "|" + f.Object.String() + "|" + f.Field()
			if seen[f.Key] && !f.Primary || seen[id] {
				continue
			}
			seen[f.Key], seen[id] = true, true
		}
		out = append(out, f)
	}
	return out
}
