package manifest

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Collect reads every path into memory: the files of a directory
// (recursively, .yaml/.yml/.json, sorted) but those the exclude patterns
// and ignore files leave out, and standard input for "-". A patch a
// kustomization names and a Go template of a Helm chart are skipped, with
// the reason layout.go gives.
func Collect(paths []string, opts Options) ([]Source, []Skip, error) {
	var sources []Source
	var skipped []Skip
	base := &ignorer{}
	if len(opts.Exclude) > 0 {
		cwd, err := os.Getwd()
		if err != nil {
			return nil, nil, err
		}
		rs := ruleSet{base: cwd, anywhere: true}
		for _, e := range opts.Exclude {
			if p, ok := parsePattern(e); ok {
				rs.patterns = append(rs.patterns, p)
			}
		}
		base.sets = append(base.sets, rs)
	}
	for i, p := range paths {
		if p == Stdin {
			if opts.Stdin == nil {
				return nil, nil, &ParseError{File: StdinName, Err: errors.New("standard input is not available")}
			}
			data, err := io.ReadAll(opts.Stdin)
			if err != nil {
				return nil, nil, &ParseError{File: StdinName, Err: err}
			}
			sources = append(sources, Source{Path: StdinName, Data: data, Input: i})
			continue
		}
		found, err := expand(p, base)
		if err != nil {
			return nil, nil, err
		}
		patches := kustomizePatches{}
		for _, fu := range found {
			if reason := patches.skip(fu.path); reason != "" {
				skipped = append(skipped, Skip{Path: fu.path, Input: i, Reason: reason})
				continue
			}
			if opts.DropText && chartOfTemplate(fu.path) == "" && rereadable(fu.path) {
				// Parse reads it when its unit is parsed, so that a
				// run holds the text of one unit at a time.
				sources = append(sources, Source{Path: fu.path, Input: i, Unit: fu.unit, deferred: true})
				continue
			}
			data, err := os.ReadFile(fu.path)
			if err != nil {
				return nil, nil, &ParseError{File: fu.path, Err: unwrapPathError(err)}
			}
			if reason := templateSkip(fu.path, data); reason != "" {
				skipped = append(skipped, Skip{Path: fu.path, Input: i, Reason: reason})
				continue
			}
			sources = append(sources, Source{Path: fu.path, Data: data, Input: i, Unit: fu.unit})
		}
	}
	return sources, skipped, nil
}

// found is a file found under a PATH argument, with its unit.
type found struct {
	path, unit string
}

// expand turns a path into the manifest files it names. A file named
// explicitly is always read; under a directory, the exclude patterns and
// the ignore files (of the directories above it up to the working
// directory, and of every directory walked) leave paths out.
func expand(p string, base *ignorer) ([]found, error) {
	info, err := os.Stat(p)
	if err != nil {
		return nil, &ParseError{File: p, Err: unwrapPathError(err)}
	}
	if !info.IsDir() {
		unit := ""
		if d := filepath.Dir(p); isUnitRoot(d) {
			unit = d
		}
		return []found{{p, unit}}, nil
	}
	ig := base.scoped()
	if err := readAncestorIgnores(ig, p); err != nil {
		return nil, err
	}
	var out []found
	var walk func(dir, unit string, ig *ignorer) error
	walk = func(dir, unit string, ig *ignorer) error {
		if err := ig.readIgnoreFile(dir); err != nil {
			return err
		}
		if unit == "" && isUnitRoot(dir) {
			unit = dir
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			return &ParseError{File: dir, Err: unwrapPathError(err)}
		}
		for _, e := range entries {
			path := filepath.Join(dir, e.Name())
			if e.IsDir() {
				if strings.HasPrefix(e.Name(), ".") || ig.ignored(path, true) {
					continue
				}
				if err := walk(path, unit, ig.scoped()); err != nil {
					return err
				}
				continue
			}
			switch strings.ToLower(filepath.Ext(path)) {
			case ".yaml", ".yml", ".json":
				if !ig.ignored(path, false) {
					out = append(out, found{path, unit})
				}
			}
		}
		return nil
	}
	if err := walk(p, "", ig); err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].path < out[j].path })
	return out, nil
}

// readAncestorIgnores adds the ignore files of the directories above dir,
// from the working directory down, when dir is under the working directory.
func readAncestorIgnores(ig *ignorer, dir string) error {
	cwd, err := os.Getwd()
	if err != nil {
		return nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil
	}
	rel, err := filepath.Rel(cwd, abs)
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		return nil
	}
	cur := cwd
	if err := ig.readIgnoreFile(cur); err != nil {
		return err
	}
	parts := strings.Split(rel, string(filepath.Separator))
	for _, part := range parts[:len(parts)-1] {
		cur = filepath.Join(cur, part)
		if err := ig.readIgnoreFile(cur); err != nil {
			return err
		}
	}
	return nil
}

func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
