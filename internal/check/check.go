// Package check is the offline checker behind `headless-guard check`: it
// loads manifests into one index, runs the rule registry over every object as
// a CREATE, and optionally applies the fixes to the manifests.
package check

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/headless-guard/headless-guard/internal/manifest"
	"github.com/headless-guard/headless-guard/internal/report"
	"github.com/headless-guard/headless-guard/rules"
)

// Options configure one run.
type Options struct {
	// Paths are files, directories or "-".
	Paths []string
	// Stdin is read for "-".
	Stdin io.Reader
	// Namespace is given to objects without one.
	Namespace string
	// Registry defaults to rules.Default().
	Registry *rules.Registry
	// Policy carries rule overrides and the mode.
	Policy rules.Policy
	// Fixing keeps the manifests' YAML trees so that Fix can edit them.
	Fixing bool
	// Scope says which inputs are checked together; "" is ScopePath.
	Scope Scope
	// Exclude are gitignore-style patterns of paths not to read.
	Exclude []string
	// Complete, when set, adds objects the input does not hold to the
	// index of each unit (the live cluster's): objects of the input win.
	Complete func(idx *rules.Index, set *manifest.Set) error
}

// Result is a run's outcome.
type Result struct {
	Report *report.Report
	// Units are the scopes checked, each with its manifests.
	Units []*Unit
	// Empty are the inputs under which no object was found.
	Empty []EmptyInput
}

// Run loads and checks, each scope on its own (Options.Scope). A
// *manifest.ParseError means unreadable input.
func Run(opts Options) (*Result, error) {
	lopts := manifest.Options{Namespace: opts.Namespace, Stdin: opts.Stdin, KeepNodes: opts.Fixing, Minimal: !opts.Fixing, Exclude: opts.Exclude}
	sources, skipped, err := manifest.Collect(opts.Paths, lopts)
	if err != nil {
		return nil, err
	}
	units := group(opts.Scope, sources)
	var allSkipped []manifest.Skip
	allSkipped = append(allSkipped, skipped...)
	for _, u := range units {
		if u.Set, err = manifest.Parse(u.sources, lopts); err != nil {
			return nil, err
		}
		allSkipped = append(allSkipped, u.Set.Skipped...)
	}
	rep, err := EvaluateUnits(units, opts)
	if err != nil {
		return nil, err
	}
	rep.Skipped = append(skippedOf(skipped), rep.Skipped...)
	// In path order, as a walk finds them: chart templates are skipped
	// before parsing, the other files after.
	sort.SliceStable(rep.Skipped, func(i, j int) bool { return rep.Skipped[i].File < rep.Skipped[j].File })
	return &Result{Report: rep, Units: units, Empty: empties(opts.Paths, sources, units, allSkipped)}, nil
}

// skippedOf turns the loader's skipped files into the report's.
func skippedOf(in []manifest.Skip) []report.Skipped {
	out := make([]report.Skipped, 0, len(in))
	for _, s := range in {
		out = append(out, report.Skipped{Location: report.Location{File: s.Path}, Reason: s.Reason})
	}
	return out
}

// EvaluateUnits evaluates each unit on its own (Evaluate) and merges the
// reports in unit order.
func EvaluateUnits(units []*Unit, opts Options) (*report.Report, error) {
	reps := make([]*report.Report, 0, len(units))
	for _, u := range units {
		rep, err := Evaluate(u.Set, opts)
		if err != nil {
			return nil, err
		}
		reps = append(reps, rep)
	}
	if len(reps) == 0 {
		reg := opts.Registry
		if reg == nil {
			reg = rules.Default()
		}
		return &report.Report{Registry: reg}, nil
	}
	return merge(reps), nil
}

// Refix parses what --fix rendered for each unit and checks it again, each
// unit on its own as before.
func Refix(units []*Unit, rendered [][]manifest.Source, opts Options) (*report.Report, error) {
	fixed := make([]*Unit, len(units))
	for i, u := range units {
		srcs := rendered[i]
		for j := range srcs {
			if j < len(u.Set.Files) {
				srcs[j].Input, srcs[j].Unit = u.Set.Files[j].Input, u.Set.Files[j].Unit
			}
		}
		set, err := manifest.Parse(srcs, manifest.Options{Namespace: opts.Namespace})
		if err != nil {
			return nil, fmt.Errorf("the fixed manifests do not parse (please report this): %w", err)
		}
		fixed[i] = &Unit{Name: u.Name, Set: set}
	}
	return EvaluateUnits(fixed, opts)
}

// Index builds the lookup over every object of a loaded set, as the
// cluster would hold them: of an object defined twice, the definition
// applied last.
func Index(set *manifest.Set, namespace string) *rules.Index {
	return index(set, shadowed(set, namespace))
}

func index(set *manifest.Set, shadow map[*manifest.Object]*manifest.Object) *rules.Index {
	idx := rules.NewIndex()
	var decoded map[*manifest.Document][]*corev1.ConfigMap
	for _, o := range set.Objects {
		if _, hidden := shadow[o]; hidden {
			continue
		}
		if o.Typed != nil {
			idx.Add(o.Typed)
			continue
		}
		// ConfigMaps are evidence that a StatefulSet uses its per-pod
		// names (rules/peernames.go); the loader does not type them, so
		// they are decoded here, once per document.
		if o.Ref.Kind == "ConfigMap" && o.Ref.APIVersion == "v1" {
			if decoded == nil {
				decoded = map[*manifest.Document][]*corev1.ConfigMap{}
			}
			cms, ok := decoded[o.Doc]
			if !ok {
				cms = configMapsOf(o.Doc.Raw)
				decoded[o.Doc] = cms
			}
			for _, cm := range cms {
				if cm.Name == o.Ref.Name {
					cm.Namespace = o.Ref.Namespace
					idx.Add(cm)
				}
			}
		}
	}
	return idx
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

// Evaluate runs the registry over every object of set but the definitions
// another one replaces (an object defined twice is checked as applied
// last), and reports what the rules do not see as notices.
func Evaluate(set *manifest.Set, opts Options) (*report.Report, error) {
	reg := opts.Registry
	if reg == nil {
		reg = rules.Default()
	}
	shadow := shadowed(set, opts.Namespace)
	lookup := index(set, shadow)
	if opts.Complete != nil {
		if err := opts.Complete(lookup, set); err != nil {
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

// Fix applies every fix to the loaded manifests: injects missing Services
// (appended to the StatefulSet's file), sets empty serviceNames, adds missing
// selector labels and names unnamed ports. It returns what it did.
//
// A definition that another one of the same object replaces is left as it
// is: the one applied last is fixed.
func Fix(set *manifest.Set, namespace string) ([]FixEntry, error) {
	return FixWith(set, Options{Namespace: namespace})
}

// FixWith is Fix with the index completed as Evaluate completes it
// (Options.Complete): with --cluster, a Service the cluster has is not
// injected again.
func FixWith(set *manifest.Set, opts Options) ([]FixEntry, error) {
	shadow := shadowed(set, opts.Namespace)
	idx := index(set, shadow)
	if opts.Complete != nil {
		if err := opts.Complete(idx, set); err != nil {
			return nil, err
		}
	}
	fixOpts := rules.FixOptions{InjectService: true, FixLabels: true}
	// The Services that are a pod template's subdomain (HG012) have the
	// DNS records of named ports too.
	subdomains := map[string]bool{}
	for _, o := range set.Objects {
		if o.Typed == nil {
			continue
		}
		if w, ok := rules.WorkloadOf(o.Typed); ok && w.Template != nil && w.Template.Spec.Subdomain != "" {
			subdomains[rules.RefOf(o.Typed).Namespace+"/"+w.Template.Spec.Subdomain] = true
		}
	}
	var done []FixEntry
	for _, o := range set.Objects {
		if _, hidden := shadow[o]; o.Typed == nil || hidden {
			continue
		}
		// Ports are named for the DNS of the StatefulSets a Service
		// governs (HG005); `check` calls the ports of any other Service
		// clean, and --fix must not change what it calls clean.
		if svc, ok := o.Typed.(*corev1.Service); ok && !subdomains[svc.Namespace+"/"+svc.Name] {
			if governed, err := idx.StatefulSetsFor(svc.Namespace, svc.Name); err != nil || len(governed) == 0 {
				continue
			}
		}
		plan, err := rules.PlanFixes(&rules.Request{Operation: rules.Create, Object: o.Typed}, idx, fixOpts)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %s: %w", o.File.Path, o.Line(), o.Ref, err)
		}
		if plan.Empty() {
			continue
		}
		if err := o.ApplyPatches(plan.Patches); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", o.File.Path, o.Line(), err)
		}
		for _, svc := range plan.Create {
			if err := o.File.AppendObject(svc, o.HasNamespace()); err != nil {
				return nil, err
			}
			idx.Add(svc)
		}
		for _, a := range plan.Applied {
			done = append(done, FixEntry{AppliedFix: a, Object: o.Ref, Location: report.Location{File: o.File.Path, Line: o.Line()}})
		}
	}
	return done, nil
}

// FixEntry is one applied fix with the object it was applied for.
type FixEntry struct {
	rules.AppliedFix
	Object rules.ObjectRef
	report.Location
}

// Rendered returns every file of the set as `--fix` writes it, each
// encoded once: the caller prints, writes and re-checks the same bytes.
func Rendered(set *manifest.Set) ([]manifest.Source, error) {
	out := make([]manifest.Source, len(set.Files))
	for i, f := range set.Files {
		var buf bytes.Buffer
		if _, err := f.WriteTo(&buf); err != nil {
			return nil, err
		}
		out[i] = manifest.Source{Path: f.Path, Data: buf.Bytes()}
	}
	return out, nil
}

// Concat writes rendered files to w as one stream, `---` between files.
func Concat(w io.Writer, files []manifest.Source) error {
	for i, f := range files {
		b := f.Data
		if i > 0 && len(b) > 0 && !bytes.HasPrefix(b, []byte("---")) {
			if _, err := io.WriteString(w, "---\n"); err != nil {
				return err
			}
		}
		if len(b) > 0 && b[len(b)-1] != '\n' {
			b = append(b[:len(b):len(b)], '\n')
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// Render writes every file of the set, fixed, to w (as `--fix` prints them).
func Render(set *manifest.Set, w io.Writer) error {
	files, err := Rendered(set)
	if err != nil {
		return err
	}
	return Concat(w, files)
}

// WriteInPlace rewrites the changed files of the set (`--fix --write`) with
// their rendered bytes (Rendered). Standard input cannot be rewritten; it
// is printed to stdout instead.
func WriteInPlace(set *manifest.Set, rendered []manifest.Source, stdout io.Writer) ([]string, error) {
	var written []string
	for i, f := range set.Files {
		if !f.Changed() {
			continue
		}
		if f.Path == manifest.StdinName {
			if _, err := stdout.Write(rendered[i].Data); err != nil {
				return written, err
			}
			continue
		}
		info, err := os.Stat(f.Path)
		if err != nil {
			return written, err
		}
		if err := os.WriteFile(f.Path, rendered[i].Data, info.Mode().Perm()); err != nil {
			return written, err
		}
		written = append(written, f.Path)
	}
	sort.Strings(written)
	return written, nil
}
