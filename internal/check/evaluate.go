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
// definition applied last.
func index(set *manifest.Set, shadow map[*manifest.Object]*manifest.Object) *rules.Index {
	idx := rules.NewIndex()
	for ns, s := range sizes(set, shadow) {
		idx.Reserve(ns, *s)
	}
	for _, o := range set.Objects {
		if _, hidden := shadow[o]; hidden {
			continue
		}
		if o.Typed != nil {
			idx.Add(o.Typed)
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
	return idx
}

// sizes counts, per namespace, the objects index gives the index.
func sizes(set *manifest.Set, shadow map[*manifest.Object]*manifest.Object) map[string]*rules.Sizes {
	out := map[string]*rules.Sizes{}
	for _, o := range set.Objects {
		if _, hidden := shadow[o]; hidden {
			continue
		}
		s := out[o.Ref.Namespace]
		if s == nil {
			s = &rules.Sizes{}
			out[o.Ref.Namespace] = s
		}
		switch {
		case o.Typed == nil:
			if o.Ref.Kind == "ConfigMap" && o.Ref.APIVersion == "v1" {
				s.ConfigMaps++
			}
		case o.Ref.Kind == rules.KindService:
			s.Services++
		default:
			if o.Ref.Kind == rules.KindStatefulSet {
				s.StatefulSets++
			}
			s.Workloads++
		}
	}
	return out
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
	lookup := index(set, shadow)
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
		for _, o := range set.Objects {
			if _, hidden := shadow[o]; !hidden {
				objs = append(objs, o)
			}
		}
	}
	outcomes := evaluateAll(objs, reg, lookup, &opts.Policy)
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
func evaluateAll(objs []*manifest.Object, reg *rules.Registry, lookup rules.Lookup, policy *rules.Policy) []outcome {
	out := make([]outcome, len(objs))
	evaluate := func(from, to int) {
		var paths []string
		for i := from; i < to; i++ {
			o := objs[i]
			if o.Typed == nil {
				continue
			}
			res, err := reg.Evaluate(&rules.Request{Operation: rules.Create, Object: o.Typed}, lookup, policy)
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
		evaluate(0, len(objs))
		return out
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				from := int(next.Add(evaluateChunk)) - evaluateChunk
				if from >= len(objs) {
					return
				}
				evaluate(from, min(from+evaluateChunk, len(objs)))
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
