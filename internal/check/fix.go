package check

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"sort"

	corev1 "k8s.io/api/core/v1"

	"github.com/headless-guard/headless-guard/internal/manifest"
	"github.com/headless-guard/headless-guard/internal/report"
	"github.com/headless-guard/headless-guard/rules"
)

// fixUnits applies the fixes of each unit, prints or writes the
// manifests, and checks the result again: the exit code reflects what is
// left after fixing.
func fixUnits(units []*unit, opts Options, write bool) (*report.Report, error) {
	out := make([][]manifest.Source, len(units))
	var all []manifest.Source
	for i, u := range units {
		done, err := fixSet(u.Set, opts)
		if err != nil {
			return nil, err
		}
		for _, d := range done {
			fmt.Fprintf(opts.Log, "fixed: %s:%d: %s: %s (%s %s)\n", d.File, d.Line, d.Object, d.Description, d.Fix, d.Rule)
		}
		if out[i], err = rendered(u.Set); err != nil {
			return nil, err
		}
		all = append(all, out[i]...)
		if write {
			written, err := writeInPlace(u.Set, out[i], opts.Out)
			if err != nil {
				return nil, err
			}
			for _, p := range written {
				fmt.Fprintf(opts.Log, "wrote %s\n", p)
			}
		}
	}
	if !write {
		if err := concat(opts.Out, all); err != nil {
			return nil, err
		}
	}
	return refix(units, out, opts)
}

// refix parses what --fix rendered for each unit and checks it again, each
// unit on its own as before.
func refix(units []*unit, rendered [][]manifest.Source, opts Options) (*report.Report, error) {
	fixed := make([]*unit, len(units))
	for i, u := range units {
		srcs := rendered[i]
		for j := range srcs {
			if j < len(u.Set.Files) {
				srcs[j].Input, srcs[j].Unit = u.Set.Files[j].Input, u.Set.Files[j].Unit
			}
		}
		set, err := manifest.Parse(srcs, manifest.Options{Namespace: opts.Namespace})
		if err != nil {
			// %v: a bug of --fix is no unreadable input of the user's.
			return nil, fmt.Errorf("the fixed manifests do not parse (please report this): %v", err)
		}
		fixed[i] = &unit{Name: u.Name, Set: set}
	}
	return evaluateUnits(fixed, opts)
}

// fixSet applies every fix to the loaded manifests of one unit: injects
// missing Services (appended to the StatefulSet's file), sets empty
// serviceNames, adds missing selector labels and names unnamed ports. It
// returns what it did. The index is completed as evaluate completes it: with
// --cluster, a Service the cluster has is not injected again.
//
// A definition that another one of the same object replaces is left as it
// is: the one applied last is fixed.
func fixSet(set *manifest.Set, opts Options) ([]fixEntry, error) {
	shadow := shadowed(set, opts.Namespace)
	idx, _ := index(set, shadow)
	if opts.complete != nil {
		if err := opts.complete(idx, set); err != nil {
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
	var done []fixEntry
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
			done = append(done, fixEntry{AppliedFix: a, Object: o.Ref, Location: report.Location{File: o.File.Path, Line: o.Line()}})
		}
	}
	return done, nil
}

// fixEntry is one applied fix with the object it was applied for.
type fixEntry struct {
	rules.AppliedFix
	Object rules.ObjectRef
	report.Location
}

// rendered returns every file of the set as `--fix` writes it, each
// encoded once: the caller prints, writes and re-checks the same bytes.
func rendered(set *manifest.Set) ([]manifest.Source, error) {
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

// concat writes rendered files to w as one stream, `---` between files.
func concat(w io.Writer, files []manifest.Source) error {
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

// writeInPlace rewrites the changed files of the set (`--fix --write`) with
// their rendered bytes (rendered). Standard input cannot be rewritten; it
// is printed to stdout instead.
func writeInPlace(set *manifest.Set, rendered []manifest.Source, stdout io.Writer) ([]string, error) {
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
