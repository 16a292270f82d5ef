package check

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/headless-guard/headless-guard/internal/manifest"
	"github.com/headless-guard/headless-guard/internal/report"
)

// Scope says which manifests are checked together: the objects of one
// scope are one index, and no finding or fix of one uses an object of
// another.
type Scope string

// The scopes of `check --scope`.
const (
	// ScopePath checks each PATH argument (and standard input) on its own;
	// under a directory, each kustomization or Helm chart is one unit.
	ScopePath Scope = "path"
	// ScopeDir checks each directory on its own; a kustomization or a Helm
	// chart is one unit with everything under it.
	ScopeDir Scope = "dir"
	// ScopeFile checks each file on its own.
	ScopeFile Scope = "file"
	// ScopeAll checks everything together, as one `kubectl apply` of all
	// inputs would see it.
	ScopeAll Scope = "all"
)

// Scopes are the values --scope accepts, in the order the CLI lists them.
var Scopes = []Scope{ScopePath, ScopeDir, ScopeFile, ScopeAll}

// ParseScope reads a --scope value; "" is ScopePath.
func ParseScope(s string) (Scope, error) {
	if s == "" {
		return ScopePath, nil
	}
	for _, sc := range Scopes {
		if string(sc) == s {
			return sc, nil
		}
	}
	names := make([]string, len(Scopes))
	for i, sc := range Scopes {
		names[i] = string(sc)
	}
	return "", fmt.Errorf("%q must be one of %s", s, strings.Join(names, ", "))
}

// unitKey is the scope a source belongs to.
func unitKey(scope Scope, src manifest.Source) string {
	stdin := fmt.Sprintf("input %d", src.Input)
	switch scope {
	case ScopeAll:
		return ""
	case ScopeFile:
		if src.Path == manifest.StdinName {
			return stdin
		}
		return src.Path
	case ScopeDir:
		if src.Path == manifest.StdinName {
			return stdin
		}
		if src.Unit != "" {
			return src.Unit
		}
		return filepath.Dir(src.Path)
	}
	if src.Unit != "" {
		return src.Unit
	}
	return stdin
}

// unit is one scope's manifests, checked on their own.
type unit struct {
	// Name is the scope's key: a path, "input N", or "" for ScopeAll.
	Name string
	Set  *manifest.Set
	// sources are the unit's inputs as read, to re-check what --fix made.
	sources []manifest.Source
}

// group splits the sources into units, in the order each first appears.
func group(scope Scope, sources []manifest.Source) []*unit {
	var units []*unit
	byKey := map[string]*unit{}
	for _, src := range sources {
		k := unitKey(scope, src)
		u := byKey[k]
		if u == nil {
			u = &unit{Name: k}
			byKey[k] = u
			units = append(units, u)
		}
		u.sources = append(u.sources, src)
	}
	return units
}

// merge puts the reports of the units into one, in unit order.
func merge(reps []*report.Report) *report.Report {
	if len(reps) == 1 {
		return reps[0]
	}
	out := &report.Report{}
	for _, r := range reps {
		if out.Registry == nil {
			out.Registry = r.Registry
		}
		out.Findings = append(out.Findings, r.Findings...)
		out.Objects = append(out.Objects, r.Objects...)
		out.Notices = append(out.Notices, r.Notices...)
		out.Skipped = append(out.Skipped, r.Skipped...)
		out.Files += r.Files
		out.Documents += r.Documents
	}
	return out
}

// EmptyInput is a PATH argument under which nothing was checked.
type EmptyInput struct {
	Path string
	// Why says what was there instead, after the input's name: "holds
	// no .yaml, .yml or .json file...".
	Why string
}

// empties lists the inputs with no object.
func empties(paths []string, sources []manifest.Source, counts inputCounts, skipped []manifest.Skip) []EmptyInput {
	files, skips := make([]int, len(paths)), make([]int, len(paths))
	docs, objects := counts.docs, counts.objects
	for _, src := range sources {
		files[src.Input]++
	}
	for _, s := range skipped {
		skips[s.Input]++
	}
	var out []EmptyInput
	for i, p := range paths {
		if objects[i] > 0 {
			continue
		}
		name := p
		if p == manifest.Stdin {
			name = "standard input"
		}
		var why string
		switch {
		case p == manifest.Stdin && docs[i] == 0:
			why = "was empty: did the command before the pipe fail?"
		case files[i] == 0 && skips[i] == 0:
			why = "holds no .yaml, .yml or .json file, or all of them are excluded"
		case docs[i] == 0 && skips[i] > 0:
			why = fmt.Sprintf("holds no manifest: %s skipped, and the others have no document", plural(skips[i], "file", "files"))
		case docs[i] == 0:
			why = "holds only empty files"
		default:
			why = "holds only empty Lists"
		}
		out = append(out, EmptyInput{Path: name, Why: why})
	}
	return out
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

// inputCounts are the non-empty documents and the objects parsed of each
// input (PATH argument), counted unit by unit: empties reads them after
// the units' objects are gone.
type inputCounts struct {
	docs, objects []int
}

func newInputCounts(inputs int) inputCounts {
	return inputCounts{docs: make([]int, inputs), objects: make([]int, inputs)}
}

// add counts the documents and objects of a parsed unit.
func (c inputCounts) add(set *manifest.Set) {
	for _, f := range set.Files {
		for _, d := range f.Documents {
			if !d.Empty {
				c.docs[f.Input]++
			}
			c.objects[f.Input] += len(d.Objects)
		}
	}
}
