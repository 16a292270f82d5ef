package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ParseError is a manifest that cannot be read; it names the file and line.
type ParseError struct {
	File string
	Line int
	Err  error
}

func (e *ParseError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.File, e.Err)
}

func (e *ParseError) Unwrap() error { return e.Err }

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): `)

var strictDuplicate = regexp.MustCompile(`line (\d+): key (.*) already set in map`)

// strictDuplicates reads the duplicate keys of a document yaml.v3 cannot
// parse from sigs.k8s.io/yaml's strict error, which names the line of the
// repeated key only.
func strictDuplicates(f *File, d *Document, err error) []Warning {
	var out []Warning
	for _, m := range strictDuplicate.FindAllStringSubmatch(err.Error(), -1) {
		n, _ := strconv.Atoi(m[1])
		key := m[2]
		if k, err := strconv.Unquote(key); err == nil {
			key = k
		}
		w := Warning{Reason: ReasonDuplicateKey, File: f.Path, Line: d.Line + max(n, 1) - 1, Field: key,
			Message: fmt.Sprintf("`%s` is set again on line %d: kubectl applies the last value and drops the one before; a key must appear once in a mapping", key, d.Line+max(n, 1)-1)}
		if len(d.Objects) == 1 {
			w.Object = d.Objects[0]
		}
		out = append(out, w)
	}
	return out
}

// yamlError reports a document sigs.k8s.io/yaml cannot read, on its line.
func yamlError(f *File, d *Document, err error) *parseErrorAt {
	msg := err.Error()
	line := d.Line
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		msg = msg[len(m[0]):]
		if isParserProblem(msg) {
			n++ // go-yaml counts parser (not scanner) error lines from 0
		}
		// At the end of the input go-yaml counts the line after the last
		// one; the last line with content is where the problem is.
		if last := lastContentLine(d.Raw); n > last {
			n = last
		}
		line = d.Line + max(n, 1) - 1
		msg = "invalid YAML: " + msg
	} else if strings.HasPrefix(msg, "yaml: ") {
		msg = "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")
	} else {
		// The YAML parses, but is not JSON: a NaN or an infinity, a key
		// that is a list or null.
		msg = "document must convert to JSON, as kubectl converts it: " + msg
	}
	return &parseErrorAt{ParseError: &ParseError{File: f.Path, Line: line, Err: errors.New(msg)}, f: f}
}

// lastContentLine is the last line of raw that is not blank, 1-based.
func lastContentLine(raw []byte) int {
	last, n := 1, 1
	for l := range bytes.Lines(raw) {
		if len(bytes.TrimSpace(l)) > 0 {
			last = n
		}
		n++
	}
	return last
}

// contentLine is the line of the document's content, counted from the
// document's first line: the tree's root, or else the first line that is
// not blank or a comment.
func contentLine(tree *yaml.Node, raw []byte) int {
	if tree != nil && tree.Line > 0 {
		return tree.Line
	}
	return max(firstContentLine(raw), 1)
}

// firstContentLine is the first line of raw that is not blank or a
// comment, 1-based, or 0 when there is none.
func firstContentLine(raw []byte) int {
	n := 1
	for l := range bytes.Lines(raw) {
		if t := bytes.TrimSpace(l); len(t) > 0 && t[0] != '#' {
			return n
		}
		n++
	}
	return 0
}

// isParserProblem recognizes the problems of go-yaml's parser, whose error
// lines are 0-based, unlike its scanner's (whose "did not find expected"
// problems name characters: alphabetic, whitespace, '!', a tag URI...).
func isParserProblem(msg string) bool {
	for _, p := range []string{"did not find expected <", "did not find expected node content", "did not find expected key", "did not find expected '-'", "did not find expected ','", "found duplicate %", "found incompatible YAML document", "found undefined tag handle"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}
