package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
	kruntime "k8s.io/apimachinery/pkg/runtime"

	"github.com/headless-guard/headless-guard/rules"
)

// Stdin is the path that means standard input.
const Stdin = "-"

// StdinName is how standard input is named in reports.
const StdinName = "<stdin>"

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

// File is one input file (or standard input) split into documents.
type File struct {
	// Path as given (or found under a directory); StdinName for standard input.
	Path string
	// Documents in order, empty ones included so the file can be rewritten.
	Documents []*Document
	// JSON is true for .json files, which --fix writes back as JSON.
	JSON bool
}

// Document is one YAML document of a file.
type Document struct {
	// Raw is the document's source text, without its separator line.
	Raw []byte
	// Separator is the `---` line that preceded the document, if any.
	Separator []byte
	// Line is the 1-based line of Raw's first line in the file.
	Line int
	// Node is the parsed document node; nil for an empty document, and
	// unless Options.KeepNodes.
	Node *yaml.Node
	// Empty is true for a document with no content (comments only).
	Empty bool
	// Objects are the objects of the document: one, or a List's items.
	Objects []*Object
	// Changed is set by ApplyPatches; unchanged documents are written back verbatim.
	Changed bool
	// Appended marks a document a fix added (an injected Service).
	Appended bool
}

// Object is one Kubernetes object of a document.
type Object struct {
	File *File
	Doc  *Document
	// Node is the object's mapping node (a List item's node for list items);
	// nil unless Options.KeepNodes, see node().
	Node *yaml.Node
	// item is the object's index in a List's items, or -1.
	item int
	// line is the 1-based line of the object in its document.
	line int
	// Ref names the object (namespace defaulted).
	Ref rules.ObjectRef
	// Typed is the decoded object for the kinds the rules read; nil otherwise.
	Typed kruntime.Object
}

// Line is the object's first line in its file.
func (o *Object) Line() int { return o.Doc.Line + o.line - 1 }

// Options control loading.
type Options struct {
	// Namespace is given to namespaced objects that have none (default "default").
	Namespace string
	// Stdin is read for the path "-".
	Stdin io.Reader
	// KeepNodes keeps every document's YAML node tree, which --fix edits.
	// Without it the trees are dropped after decoding, and a document is
	// parsed again only to place a finding on its line: findings are rare and
	// the trees are several times the size of the text.
	KeepNodes bool
	// Minimal keeps of each typed object only what the rules read
	// (rules.Strip): the checker's memory then grows with the wiring, not
	// with env, resources and volume claim templates.
	Minimal bool
}

// Set is everything loaded: files in argument order, objects in input order.
type Set struct {
	Files   []*File
	Objects []*Object
}

// Documents counts the non-empty documents.
func (s *Set) Documents() int {
	n := 0
	for _, f := range s.Files {
		for _, d := range f.Documents {
			if !d.Empty {
				n++
			}
		}
	}
	return n
}

// Source is one input already read into memory.
type Source struct {
	// Path names the input in reports; StdinName for standard input.
	Path string
	Data []byte
}

// Load reads every path: a file, a directory (recursively, .yaml/.yml/.json)
// or "-" for standard input. The first unreadable document stops loading
// with a *ParseError naming its file and line.
func Load(paths []string, opts Options) (*Set, error) {
	var sources []Source
	for _, p := range paths {
		if p == Stdin {
			if opts.Stdin == nil {
				return nil, &ParseError{File: StdinName, Err: errors.New("standard input is not available")}
			}
			data, err := io.ReadAll(opts.Stdin)
			if err != nil {
				return nil, &ParseError{File: StdinName, Err: err}
			}
			sources = append(sources, Source{Path: StdinName, Data: data})
			continue
		}
		found, err := expand(p)
		if err != nil {
			return nil, err
		}
		for _, path := range found {
			data, err := os.ReadFile(path)
			if err != nil {
				return nil, &ParseError{File: path, Err: unwrapPathError(err)}
			}
			sources = append(sources, Source{Path: path, Data: data})
		}
	}
	return Parse(sources, opts)
}

// Parse splits and decodes inputs already in memory.
func Parse(sources []Source, opts Options) (*Set, error) {
	if opts.Namespace == "" {
		opts.Namespace = "default"
	}
	files := make([]*File, len(sources))
	for i, src := range sources {
		files[i] = &File{Path: src.Path, JSON: strings.EqualFold(filepath.Ext(src.Path), ".json"), Documents: split(src.Data)}
	}
	if err := parseAll(files, opts); err != nil {
		return nil, err
	}
	set := &Set{Files: files}
	for _, f := range files {
		for _, d := range f.Documents {
			set.Objects = append(set.Objects, d.Objects...)
		}
	}
	return set, nil
}

// expand turns a path into the manifest files it names.
func expand(p string) ([]string, error) {
	info, err := os.Stat(p)
	if err != nil {
		return nil, &ParseError{File: p, Err: unwrapPathError(err)}
	}
	if !info.IsDir() {
		return []string{p}, nil
	}
	var out []string
	err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return &ParseError{File: path, Err: unwrapPathError(err)}
		}
		if d.IsDir() {
			if path != p && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		switch strings.ToLower(filepath.Ext(path)) {
		case ".yaml", ".yml", ".json":
			out = append(out, path)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(out)
	return out, nil
}

func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// split cuts a stream at `---` lines, keeping each document's text and first line.
func split(data []byte) []*Document {
	var docs []*Document
	cur := &Document{Line: 1}
	start, line := 0, 1
	for pos := 0; pos < len(data); {
		end := bytes.IndexByte(data[pos:], '\n')
		next := len(data)
		if end >= 0 {
			next = pos + end + 1
		}
		if isSeparator(data[pos:next]) {
			cur.Raw = data[start:pos]
			docs = append(docs, cur)
			cur = &Document{Separator: data[pos:next], Line: line + 1}
			start = next
		}
		pos = next
		line++
	}
	cur.Raw = data[start:]
	return append(docs, cur)
}

func isSeparator(line []byte) bool {
	if !bytes.HasPrefix(line, []byte("---")) {
		return false
	}
	rest := bytes.TrimRight(line[3:], "\r\n")
	return len(rest) == 0 || rest[0] == ' ' || rest[0] == '\t'
}

// parseAll parses every document, on all cores: documents are independent.
func parseAll(files []*File, opts Options) error {
	type job struct {
		f *File
		d *Document
	}
	jobs := make(chan job, 256)
	errs := make([]error, 0)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				if err := parseDocument(j.f, j.d, opts); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		}()
	}
	for _, f := range files {
		for _, d := range f.Documents {
			jobs <- job{f, d}
		}
	}
	close(jobs)
	wg.Wait()
	if len(errs) == 0 {
		return nil
	}
	// Report the first error in input order, whatever finished first.
	order := map[*File]int{}
	for i, f := range files {
		order[f] = i
	}
	sort.Slice(errs, func(i, j int) bool {
		a, b := errs[i].(*parseErrorAt), errs[j].(*parseErrorAt)
		if order[a.f] != order[b.f] {
			return order[a.f] < order[b.f]
		}
		return a.Line < b.Line
	})
	return errs[0].(*parseErrorAt).ParseError
}

type parseErrorAt struct {
	*ParseError
	f *File
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): `)

func parseDocument(f *File, d *Document, opts Options) error {
	if isBlank(d.Raw) {
		d.Empty = true
		return nil
	}
	fail := func(line int, err error) error {
		return &parseErrorAt{&ParseError{File: f.Path, Line: line, Err: err}, f}
	}
	var node yaml.Node
	if err := yaml.Unmarshal(d.Raw, &node); err != nil {
		// yaml.v3 counts lines from the start of the document; report file lines.
		msg := err.Error()
		line := d.Line
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			n, _ := strconv.Atoi(m[1])
			msg = msg[len(m[0]):]
			if isParserProblem(msg) {
				n++ // yaml.v3 counts parser (not scanner) error lines from 0
			}
			line = d.Line + n - 1
		} else {
			msg = strings.TrimPrefix(msg, "yaml: ")
		}
		return fail(line, fmt.Errorf("invalid YAML: %s", msg))
	}
	if len(node.Content) == 0 {
		d.Empty = true
		return nil
	}
	d.Node = &node
	root := node.Content[0]
	if root.Kind != yaml.MappingNode {
		return fail(d.Line+root.Line-1, fmt.Errorf("document must be a Kubernetes object (a mapping with `apiVersion` and `kind`), not a %s", kindName(root)))
	}
	objs, err := decodeObjects(f, d, root, opts.Namespace, -1)
	if err != nil {
		return fail(err.line, err.err)
	}
	d.Objects = objs
	if opts.Minimal {
		for _, o := range objs {
			if o.Typed != nil {
				rules.Strip(o.Typed)
			}
		}
	}
	if !opts.KeepNodes {
		d.Node = nil
		for _, o := range objs {
			o.Node = nil
		}
	}
	return nil
}

// isParserProblem recognizes the problems of yaml.v3's parser, whose error
// lines are 0-based, unlike its scanner's.
func isParserProblem(msg string) bool {
	for _, p := range []string{"did not find expected", "found duplicate %", "found incompatible YAML document", "found undefined tag handle"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

func isBlank(b []byte) bool {
	for _, line := range bytes.Split(b, []byte("\n")) {
		t := bytes.TrimSpace(line)
		if len(t) > 0 && t[0] != '#' {
			return false
		}
	}
	return true
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		return "scalar"
	case yaml.AliasNode:
		return "alias"
	}
	return "document"
}
