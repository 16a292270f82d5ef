// Package check is the offline checker behind `headless-guard check`: it
// loads manifests into one index, runs the rule registry over every object as
// a CREATE, and optionally applies the fixes to the manifests.
package check

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"sort"

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
}

// Result is a run's outcome.
type Result struct {
	Report *report.Report
	Set    *manifest.Set
}

// Run loads and checks. A *manifest.ParseError means unreadable input.
func Run(opts Options) (*Result, error) {
	set, err := manifest.Load(opts.Paths, manifest.Options{Namespace: opts.Namespace, Stdin: opts.Stdin, KeepNodes: opts.Fixing, Minimal: !opts.Fixing})
	if err != nil {
		return nil, err
	}
	rep, err := Evaluate(set, opts)
	if err != nil {
		return nil, err
	}
	return &Result{Report: rep, Set: set}, nil
}

// Index builds the lookup over every object of a loaded set.
func Index(set *manifest.Set) *rules.Index {
	idx := rules.NewIndex()
	for _, o := range set.Objects {
		if o.Typed != nil {
			idx.Add(o.Typed)
		}
	}
	return idx
}

// Evaluate runs the registry over every object of set.
func Evaluate(set *manifest.Set, opts Options) (*report.Report, error) {
	reg := opts.Registry
	if reg == nil {
		reg = rules.Default()
	}
	lookup := Index(set)
	rep := &report.Report{Registry: reg, Files: len(set.Files), Documents: set.Documents()}
	var all []report.Finding
	for _, o := range set.Objects {
		entry := report.Object{Ref: o.Ref, Location: report.Location{File: o.File.Path, Line: o.Line()}}
		if o.Typed != nil {
			res, err := reg.Evaluate(&rules.Request{Operation: rules.Create, Object: o.Typed}, lookup, &opts.Policy)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %s: %w", o.File.Path, o.Line(), o.Ref, err)
			}
			entry.Skipped = res.Skipped
			for _, f := range res.Findings {
				all = append(all, report.Finding{Finding: f, Location: report.Location{File: o.File.Path, Line: o.FieldLine(f.Field())}})
			}
		}
		rep.Objects = append(rep.Objects, entry)
	}
	rep.Findings = dedupe(all)
	return rep, nil
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
func Fix(set *manifest.Set) ([]FixEntry, error) {
	idx := Index(set)
	fixOpts := rules.FixOptions{InjectService: true, FixLabels: true}
	var done []FixEntry
	for _, o := range set.Objects {
		if o.Typed == nil {
			continue
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
