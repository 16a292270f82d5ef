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
	// data is the file's text; the documents' Raw are slices of it.
	data []byte
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
	// off is the offset of Raw in its file's text.
	off int
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
		files[i] = &File{Path: src.Path, JSON: strings.EqualFold(filepath.Ext(src.Path), ".json"), Documents: split(src.Data), data: src.Data}
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
			cur = &Document{Separator: data[pos:next], Line: line + 1, off: next}
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

// chunkDocs is how many consecutive documents of a file a worker parses as
// one YAML stream (parseStream): the parser is set up once for all of them,
// and a big file (standard input) still spreads over the workers.
const chunkDocs = 32

// streamParse is off only in tests that compare it with parsing each
// document alone.
var streamParse = true

// parseAll parses every document, on all cores: documents are independent.
func parseAll(files []*File, opts Options) error {
	type job struct {
		f    *File
		docs []*Document
	}
	jobs := make(chan job, 256)
	errs := make([]error, 0)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fast := &fastParser{}
			for j := range jobs {
				if chunkErrs := parseChunk(j.f, j.docs, opts, fast); len(chunkErrs) > 0 {
					mu.Lock()
					errs = append(errs, chunkErrs...)
					mu.Unlock()
				}
			}
		}()
	}
	for _, f := range files {
		for i := 0; i < len(f.Documents); i += chunkDocs {
			jobs <- job{f, f.Documents[i:min(i+chunkDocs, len(f.Documents))]}
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

// parseChunk parses consecutive documents of f: each by the fast path
// when it can (fastParser), the others with yaml.v3 (parseSlow).
func parseChunk(f *File, docs []*Document, opts Options, fast *fastParser) []error {
	if !fastParse || opts.KeepNodes {
		return parseSlow(f, docs, opts)
	}
	var errs []error
	slow := -1 // first of the documents the fast path left, in a row
	for i, d := range docs {
		blank := isBlank(d.Raw)
		if !blank && !fast.decodeDocument(f, d, opts) {
			if slow < 0 {
				slow = i
			}
			continue
		}
		d.Empty = blank
		if slow >= 0 {
			errs = append(errs, parseSlow(f, docs[slow:i], opts)...)
			slow = -1
		}
	}
	if slow >= 0 {
		errs = append(errs, parseSlow(f, docs[slow:], opts)...)
	}
	return errs
}

// parseSlow parses consecutive documents of f with yaml.v3: as one stream
// when it can, else one by one.
func parseSlow(f *File, docs []*Document, opts Options) []error {
	var nodes []*yaml.Node
	if streamParse && !opts.KeepNodes && len(docs) > 1 && f.data != nil {
		nodes = parseStream(f, docs)
	}
	var errs []error
	for i, d := range docs {
		var err error
		if nodes != nil {
			if nodes[i] == nil {
				d.Empty = true
				continue
			}
			err = decodeDocument(f, d, nodes[i], opts)
		} else {
			err = parseDocument(f, d, opts)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// parseStream parses docs, consecutive documents of f, as one YAML stream,
// and returns each one's node (nil for a blank one) with its lines counted
// from the document's first line, as parsing the document alone counts
// them. It returns nil, and the documents are parsed one by one (which
// reports errors as it always has), when the stream does not parse, when
// it does not split into documents exactly as split did (content on a
// `---` line, a `...` marker), or when a document has an alias (an anchor
// must not reach into the next document).
func parseStream(f *File, docs []*Document) []*yaml.Node {
	first, last := docs[0], docs[len(docs)-1]
	if last.off+len(last.Raw) > len(f.data) {
		return nil
	}
	blank := make([]bool, len(docs))
	for i, d := range docs {
		blank[i] = isBlank(d.Raw)
		// A `...` line ends a document in a stream, and is an error in a
		// document alone. A line break that split does not count (a lone
		// CR, NEL, LS, PS) would shift the lines of the documents after it.
		if bytes.HasPrefix(d.Raw, []byte("...")) || bytes.Contains(d.Raw, []byte("\n...")) || hasOtherBreak(d.Raw) {
			return nil
		}
	}
	out := make([]*yaml.Node, len(docs))
	dec := yaml.NewDecoder(bytes.NewReader(f.data[first.off : last.off+len(last.Raw)]))
	at := 0
	for {
		n := &yaml.Node{}
		if err := dec.Decode(n); err == io.EOF {
			break
		} else if err != nil {
			return nil
		}
		if len(n.Content) == 0 {
			continue
		}
		// The document whose lines hold the content: the last one that
		// starts at or before it (a `---` line ends the one before).
		line := first.Line + n.Content[0].Line - 1
		for at+1 < len(docs) && docs[at+1].Line <= line {
			at++
		}
		if blank[at] || out[at] != nil || line < docs[at].Line || !shiftLines(n, docs[at].Line-first.Line) {
			return nil
		}
		out[at] = n
	}
	for i := range docs {
		if !blank[i] && out[i] == nil {
			return nil
		}
	}
	return out
}

// hasOtherBreak reports whether b has a line break yaml.v3 counts and split
// does not: CR without LF, NEL, LS or PS.
func hasOtherBreak(b []byte) bool {
	for rest := b; ; {
		i := bytes.IndexByte(rest, '\r')
		if i < 0 {
			break
		}
		if i+1 >= len(rest) || rest[i+1] != '\n' {
			return true
		}
		rest = rest[i+1:]
	}
	return bytes.Contains(b, []byte("\u0085")) || bytes.Contains(b, []byte("\u2028")) || bytes.Contains(b, []byte("\u2029"))
}

// shiftLines moves every node of a tree up by delta lines; false if the
// tree has an alias.
func shiftLines(n *yaml.Node, delta int) bool {
	if n.Kind == yaml.AliasNode {
		return false
	}
	n.Line -= delta
	for _, c := range n.Content {
		if !shiftLines(c, delta) {
			return false
		}
	}
	return true
}

func parseDocument(f *File, d *Document, opts Options) error {
	if isBlank(d.Raw) {
		d.Empty = true
		return nil
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
		return &parseErrorAt{&ParseError{File: f.Path, Line: line, Err: fmt.Errorf("invalid YAML: %s", msg)}, f}
	}
	return decodeDocument(f, d, &node, opts)
}

// decodeDocument decodes the objects of a parsed document whose node lines
// count from the document's first line.
func decodeDocument(f *File, d *Document, node *yaml.Node, opts Options) error {
	fail := func(line int, err error) error {
		return &parseErrorAt{&ParseError{File: f.Path, Line: line, Err: err}, f}
	}
	if len(node.Content) == 0 {
		d.Empty = true
		return nil
	}
	d.Node = node
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
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
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
