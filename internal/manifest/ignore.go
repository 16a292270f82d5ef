package manifest

import (
	"bufio"
	"bytes"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// IgnoreFile is the file whose patterns leave paths out of `check`: in
// any directory `check` walks (and those above a PATH argument up to the
// working directory), with .gitignore's syntax, relative to its directory.
const IgnoreFile = ".headless-guard-ignore"

// pattern is one line of an ignore file or one --exclude glob.
type pattern struct {
	segs    []string
	negate  bool
	dirOnly bool
}

// parsePattern reads a gitignore-style pattern; ok is false for a blank
// line or a comment.
func parsePattern(line string) (p pattern, ok bool) {
	line = strings.TrimRight(line, " \t\r")
	if line == "" || strings.HasPrefix(line, "#") {
		return p, false
	}
	if strings.HasPrefix(line, `\#`) || strings.HasPrefix(line, `\!`) {
		line = line[1:]
	} else if strings.HasPrefix(line, "!") {
		p.negate, line = true, line[1:]
	}
	if strings.HasSuffix(line, "/") {
		p.dirOnly, line = true, strings.TrimRight(line, "/")
	}
	// A pattern with no slash but a trailing one matches a name at any
	// depth; one with a slash is relative to its base.
	anchored := strings.Contains(line, "/")
	line = strings.TrimPrefix(line, "/")
	if line == "" {
		return p, false
	}
	p.segs = strings.Split(line, "/")
	if !anchored {
		p.segs = append([]string{"**"}, p.segs...)
	}
	return p, true
}

// match reports whether the slash-separated relative path rel matches.
func (p pattern) match(rel string, dir bool) bool {
	if p.dirOnly && !dir {
		return false
	}
	return matchSegs(p.segs, strings.Split(rel, "/"))
}

func matchSegs(pat, name []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			if len(pat) == 1 {
				return true
			}
			for i := 0; i <= len(name); i++ {
				if matchSegs(pat[1:], name[i:]) {
					return true
				}
			}
			return false
		}
		if len(name) == 0 {
			return false
		}
		if ok, err := path.Match(pat[0], name[0]); err != nil || !ok {
			return false
		}
		pat, name = pat[1:], name[1:]
	}
	return len(name) == 0
}

// ruleSet is the patterns of one ignore file (or the --exclude flags) with
// the directory they are relative to.
type ruleSet struct {
	base     string // absolute
	patterns []pattern
	// anywhere applies the patterns outside base too (--exclude, whose
	// base is the working directory), to the absolute path: a pattern
	// without a slash matches a name wherever the file is.
	anywhere bool
}

// ignorer decides which paths under a walk are left out.
type ignorer struct {
	sets []ruleSet
}

// readIgnoreFile adds the patterns of dir's ignore file, if it has one.
func (ig *ignorer) readIgnoreFile(dir string) error {
	data, err := os.ReadFile(filepath.Join(dir, IgnoreFile))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return &ParseError{File: filepath.Join(dir, IgnoreFile), Err: unwrapPathError(err)}
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	rs := ruleSet{base: abs}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if p, ok := parsePattern(sc.Text()); ok {
			rs.patterns = append(rs.patterns, p)
		}
	}
	if len(rs.patterns) > 0 {
		ig.sets = append(ig.sets, rs)
	}
	return nil
}

// ignored reports whether the path (as walked) is left out: the last
// pattern that matches decides, as in .gitignore.
func (ig *ignorer) ignored(p string, dir bool) bool {
	if len(ig.sets) == 0 {
		return false
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return false
	}
	out := false
	for _, rs := range ig.sets {
		rel, err := filepath.Rel(rs.base, abs)
		if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
			if !rs.anywhere {
				continue
			}
			rel = strings.TrimPrefix(filepath.ToSlash(abs), "/")
		}
		rel = filepath.ToSlash(rel)
		for _, pat := range rs.patterns {
			if pat.match(rel, dir) {
				out = !pat.negate
			}
		}
	}
	return out
}

// scoped returns a copy of ig that a walk below it can add to without
// changing ig (an ignore file applies to its own subtree only).
func (ig *ignorer) scoped() *ignorer {
	return &ignorer{sets: ig.sets[:len(ig.sets):len(ig.sets)]}
}
