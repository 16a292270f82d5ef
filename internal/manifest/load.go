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
	sigsyaml "sigs.k8s.io/yaml"

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
	// Input and Unit are the Source's.
	Input int
	Unit  string
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
	// Warnings are what the document holds that kubectl reads without a
	// word: duplicate keys.
	Warnings []Warning
	// off is the offset of Raw in its file's text.
	off int
	// sepErr is set when the `---` line before the document has content.
	sepErr *ParseError
}

// Warning is something of the input that kubectl reads without a word but
// that a reader should know about, such as a key set twice in a mapping.
type Warning struct {
	// Reason names the kind of warning: ReasonDuplicateKey.
	Reason string
	File   string
	// Line is where the warning is; OtherLine the other place it names.
	Line, OtherLine int
	// Field is the path of the key, such as `spec.template.metadata`.
	Field   string
	Message string
	// Object is the object whose document holds it.
	Object *Object
}

// ReasonDuplicateKey is the reason of a warning about a key set twice in a
// mapping: kubectl (sigs.k8s.io/yaml) keeps the last value.
const ReasonDuplicateKey = "duplicate-key"

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
	// Generated is set when the object has no name but a
	// `metadata.generateName` (which Ref.Name then holds): each apply
	// creates a new object.
	Generated bool
	// Workload is set, for an object that is not Typed, when it has a pod
	// template (`spec.template.spec.containers` and the like): a workload
	// of a kind or version the rules do not read.
	Workload bool
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
	// Exclude are gitignore-style patterns, relative to the working
	// directory, of paths under directories not to read.
	Exclude []string
	// Minimal keeps of each typed object only what the rules read
	// (rules.Strip): the checker's memory then grows with the wiring, not
	// with env, resources and volume claim templates.
	Minimal bool
}

// Set is everything loaded: files in argument order, objects in input order.
type Set struct {
	Files   []*File
	Objects []*Object
	// Warnings of every document, in input order.
	Warnings []Warning
	// Skipped are the files that are not manifests, with why.
	Skipped []Skip
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
	// Input is the index of the PATH argument the source was found under.
	Input int
	// Unit is the outermost directory under that argument that is a
	// kustomization or a Helm chart and holds the source; "" when none.
	Unit string
}

// Skip is an input file that is not a manifest, left out with a note.
type Skip struct {
	Path   string
	Reason string
	// Input is the index of the PATH argument the file was found under.
	Input int
}

// Load reads every path: a file, a directory (recursively, .yaml/.yml/.json)
// or "-" for standard input. The first unreadable document stops loading
// with a *ParseError naming its file and line.
func Load(paths []string, opts Options) (*Set, error) {
	sources, skipped, err := Collect(paths, opts)
	if err != nil {
		return nil, err
	}
	set, err := Parse(sources, opts)
	if err != nil {
		return nil, err
	}
	set.Skipped = append(skipped, set.Skipped...)
	return set, nil
}

// Collect reads every path into memory: the files of a directory
// (recursively, .yaml/.yml/.json, sorted) but those the exclude patterns
// and ignore files leave out, and standard input for "-". A Go template of
// a Helm chart (a file with `{{` under the chart's templates/) is not
// read but skipped.
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
			if k := patches.of(fu.path); k != "" {
				skipped = append(skipped, Skip{Path: fu.path, Input: i, Reason: fmt.Sprintf("a patch of the kustomization in %s, not a whole object: check what it builds (`kustomize build %s | headless-guard check -`)", k, k)})
				continue
			}
			if chart := chartOfTemplate(fu.path); chart != "" {
				data, err := os.ReadFile(fu.path)
				if err != nil {
					return nil, nil, &ParseError{File: fu.path, Err: unwrapPathError(err)}
				}
				if bytes.Contains(data, []byte("{{")) {
					skipped = append(skipped, Skip{Path: fu.path, Input: i, Reason: fmt.Sprintf("a Go template of the Helm chart in %s, not a manifest: check what it renders (`helm template RELEASE %s | headless-guard check -`)", chart, chart)})
					continue
				}
				sources = append(sources, Source{Path: fu.path, Data: data, Input: i, Unit: fu.unit})
				continue
			}
			data, err := os.ReadFile(fu.path)
			if err != nil {
				return nil, nil, &ParseError{File: fu.path, Err: unwrapPathError(err)}
			}
			sources = append(sources, Source{Path: fu.path, Data: data, Input: i, Unit: fu.unit})
		}
	}
	return sources, skipped, nil
}

// Parse splits and decodes inputs already in memory. A file (not standard
// input) none of whose documents is a Kubernetes object, such as a values
// file, a Chart.yaml or a kustomization.yaml, is left out of the set and
// listed in Set.Skipped.
func Parse(sources []Source, opts Options) (*Set, error) {
	if opts.Namespace == "" {
		opts.Namespace = "default"
	}
	files := make([]*File, len(sources))
	for i, src := range sources {
		files[i] = &File{Path: src.Path, JSON: strings.EqualFold(filepath.Ext(src.Path), ".json"), Documents: split(src.Data), data: src.Data, Input: src.Input, Unit: src.Unit}
	}
	errs := parseAll(files, opts)
	set := &Set{}
	var first *parseErrorAt
	byFile := map[*File][]*parseErrorAt{}
	for _, e := range errs {
		byFile[e.f] = append(byFile[e.f], e)
	}
	for i, f := range files {
		if isKustomization(f) {
			set.Skipped = append(set.Skipped, Skip{Path: f.Path, Input: sources[i].Input, Reason: fmt.Sprintf("a kustomization, not a manifest: check what it builds (`kustomize build %s | headless-guard check -`)", filepath.Dir(f.Path))})
			continue
		}
		if fe := byFile[f]; len(fe) > 0 {
			if reason := notManifest(f, fe); reason != "" {
				set.Skipped = append(set.Skipped, Skip{Path: f.Path, Reason: reason, Input: sources[i].Input})
				continue
			}
			if first == nil {
				first = firstReal(fe)
			}
			continue
		}
		set.Files = append(set.Files, f)
		for _, d := range f.Documents {
			set.Objects = append(set.Objects, d.Objects...)
			set.Warnings = append(set.Warnings, d.Warnings...)
		}
	}
	if first != nil {
		return nil, first.ParseError
	}
	return set, nil
}

// notManifest says why a file whose documents failed to parse is no
// manifest at all, or "" when it is one with an error: every document
// with content is a mapping or a scalar without `apiVersion` and `kind`
// (or a plain list), and none is an object.
func notManifest(f *File, errs []*parseErrorAt) string {
	if f.Path == StdinName {
		return ""
	}
	for _, e := range errs {
		if !e.notObject {
			return ""
		}
	}
	for _, d := range f.Documents {
		if len(d.Objects) > 0 {
			return ""
		}
	}
	switch name := strings.ToLower(filepath.Base(f.Path)); {
	case name == "chart.yaml" || name == "chart.yml":
		return "a Helm chart's Chart.yaml, not a manifest"
	case name == "kustomization.yaml" || name == "kustomization.yml":
		return fmt.Sprintf("a kustomization, not a manifest: check what it builds (`kustomize build %s | headless-guard check -`)", filepath.Dir(f.Path))
	case strings.HasPrefix(name, "values") && isChart(filepath.Dir(f.Path)):
		return "a Helm chart's values, not a manifest (no `apiVersion` and `kind`)"
	}
	return "not a Kubernetes manifest: no document has `apiVersion` and `kind`"
}

// isKustomization reports whether f is a kustomize file (a Kustomization
// or a Component of kustomize.config.k8s.io), which reads as an object.
func isKustomization(f *File) bool {
	if f.Path == StdinName {
		return false
	}
	n := 0
	for _, d := range f.Documents {
		for _, o := range d.Objects {
			if !strings.HasPrefix(o.Ref.APIVersion, "kustomize.config.k8s.io/") {
				return false
			}
			n++
		}
	}
	return n > 0
}

// firstReal is the first error of a file in line order.
func firstReal(errs []*parseErrorAt) *parseErrorAt {
	first := errs[0]
	for _, e := range errs[1:] {
		if e.Line < first.Line {
			first = e
		}
	}
	return first
}

// found is a file found under a PATH argument, with its unit.
type found struct {
	path, unit string
}

// isUnitRoot reports whether dir is a kustomization or a Helm chart.
func isUnitRoot(dir string) bool {
	for _, n := range []string{"kustomization.yaml", "kustomization.yml", "Kustomization", "Chart.yaml"} {
		if _, err := os.Stat(filepath.Join(dir, n)); err == nil {
			return true
		}
	}
	return false
}

// kustomizePatches remembers, per directory, the patch files its
// kustomization names: a strategic-merge patch reads as an object, but
// only the fields it changes are there.
type kustomizePatches map[string]map[string]bool

// of returns the directory of the kustomization that names path as a
// patch, or "".
func (k kustomizePatches) of(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return ""
	}
	for dir := filepath.Dir(path); ; {
		named, ok := k[dir]
		if !ok {
			named = readPatches(dir)
			k[dir] = named
		}
		if named[abs] {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir || dir == "." {
			return ""
		}
		dir = parent
	}
}

// readPatches lists the absolute paths of the patch files the
// kustomization of dir names, if dir has one.
func readPatches(dir string) map[string]bool {
	var data []byte
	for _, n := range []string{"kustomization.yaml", "kustomization.yml", "Kustomization"} {
		if b, err := os.ReadFile(filepath.Join(dir, n)); err == nil {
			data = b
			break
		}
	}
	if data == nil {
		return nil
	}
	var k struct {
		PatchesStrategicMerge []string `json:"patchesStrategicMerge"`
		Patches               []struct {
			Path string `json:"path"`
		} `json:"patches"`
		PatchesJSON6902 []struct {
			Path string `json:"path"`
		} `json:"patchesJson6902"`
	}
	if sigsyaml.Unmarshal(data, &k) != nil {
		return nil
	}
	paths := k.PatchesStrategicMerge
	for _, p := range k.Patches {
		paths = append(paths, p.Path)
	}
	for _, p := range k.PatchesJSON6902 {
		paths = append(paths, p.Path)
	}
	out := map[string]bool{}
	for _, p := range paths {
		if p == "" || strings.Contains(p, "\n") {
			continue // an inline patch
		}
		if abs, err := filepath.Abs(filepath.Join(dir, p)); err == nil {
			out[abs] = true
		}
	}
	return out
}

// isChart reports whether dir is a Helm chart.
func isChart(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "Chart.yaml"))
	return err == nil
}

// chartOfTemplate returns the chart directory when path is under the
// templates/ directory of a Helm chart, else "".
func chartOfTemplate(p string) string {
	dir := filepath.Dir(p)
	for {
		if filepath.Base(dir) == "templates" {
			chart := filepath.Dir(dir)
			if _, err := os.Stat(filepath.Join(chart, "Chart.yaml")); err == nil {
				return chart
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir || dir == "." {
			return ""
		}
		dir = parent
	}
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

// split cuts a stream into documents as kubectl does (k8s.io/apimachinery's
// YAMLReader): at every line that starts with `---`, keeping each
// document's text and first line. Only spaces and a comment may follow the
// `---`; anything else is an error there, and the document after such a
// line carries it (sepErr).
func split(data []byte) []*Document {
	var docs []*Document
	cur := &Document{Line: 1}
	start, line := 0, 1
	// empty is whether kubectl's reader holds no line of the current chunk
	// yet. A separator line ends a chunk that has lines, and is dropped;
	// one that meets an empty chunk (the first line, or the line after a
	// dropped separator) is kept as the chunk's first line, as text.
	empty := true
	for pos := 0; pos < len(data); {
		end := bytes.IndexByte(data[pos:], '\n')
		next := len(data)
		if end >= 0 {
			next = pos + end + 1
		}
		if bytes.HasPrefix(data[pos:next], []byte("---")) {
			cur.Raw = data[start:pos]
			docs = append(docs, cur)
			cur = &Document{Separator: data[pos:next], Line: line + 1, off: next}
			if rest := bytes.TrimSpace(data[pos+3 : next]); len(rest) > 0 && rest[0] != '#' {
				cur.sepErr = &ParseError{Line: line, Err: fmt.Errorf("invalid YAML document separator %q: `---` must be alone on its line or followed by a comment, as kubectl requires", bytes.TrimSpace(data[pos:next]))}
			} else if empty && next > pos+3 && data[pos+3] == '#' {
				// Kept as text, and YAML reads `---#` as text, not as a
				// marker and a comment.
				cur.sepErr = &ParseError{Line: line, Err: fmt.Errorf("invalid YAML document separator %q: kubectl reads `---#` at the start of a document as text; put a space before the comment", bytes.TrimSpace(data[pos:next]))}
			}
			start = next
			empty = !empty
		} else {
			empty = false
		}
		pos = next
		line++
	}
	cur.Raw = data[start:]
	return append(docs, cur)
}

// chunkDocs is how many consecutive documents of a file a worker takes at
// a time: a big file (standard input) still spreads over the workers.
const chunkDocs = 32

// parseAll parses every document, on all cores: documents are independent.
func parseAll(files []*File, opts Options) []*parseErrorAt {
	type job struct {
		f    *File
		docs []*Document
	}
	jobs := make(chan job, 256)
	var errs []*parseErrorAt
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
	return errs
}

type parseErrorAt struct {
	*ParseError
	f *File
	// notObject marks a document that is no Kubernetes object at all (no
	// `apiVersion` and `kind`, a scalar, a list): in a file of nothing
	// else, the file is not a manifest.
	notObject bool
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): `)

// parseChunk parses consecutive documents of f: each by the fast path
// when it can (fastParser), the others as kubectl reads them (parseSlow).
func parseChunk(f *File, docs []*Document, opts Options, fast *fastParser) []*parseErrorAt {
	var errs []*parseErrorAt
	for _, d := range docs {
		if d.sepErr != nil {
			errs = append(errs, &parseErrorAt{ParseError: &ParseError{File: f.Path, Line: d.sepErr.Line, Err: d.sepErr.Err}, f: f})
			continue
		}
		if isBlank(d.Raw) {
			d.Empty = true
			continue
		}
		if fastParse && !opts.KeepNodes && fast.decodeDocument(f, d, opts) {
			continue
		}
		if err := parseSlow(f, d, opts); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// parseSlow reads a document as kubectl and helm read it: its JSON is
// what sigs.k8s.io/yaml makes of it, nothing else. A yaml.v3 tree of the
// document places objects and errors on their lines and names both lines
// of a duplicate key (and --fix edits it); it is parsed only where it is
// needed: with KeepNodes, for a List, a duplicate key, a decoding error.
// Where yaml.v3 cannot read what sigs.k8s.io/yaml reads, lines fall back
// to the document's first line.
func parseSlow(f *File, d *Document, opts Options) *parseErrorAt {
	// Strict, the reader fails on a key set twice; most documents have
	// none, and need no second parse to find them.
	data, strictErr := sigsyaml.YAMLToJSONStrict(d.Raw)
	tree := &lazyTree{raw: d.Raw}
	dups := strictErr != nil // or merge keys that overlap, which are no warning
	if dups {
		var err error
		if data, err = sigsyaml.YAMLToJSON(d.Raw); err != nil {
			return yamlError(f, d, err)
		}
	}
	data = bytes.TrimSpace(data)
	// kubectl skips a document that is null (`~`, only comments).
	if len(data) == 0 || string(data) == "null" {
		d.Empty = true
		return nil
	}
	var root *yaml.Node
	if opts.KeepNodes || dups {
		root = tree.get()
	}
	if data[0] != '{' {
		kind := "scalar"
		if data[0] == '[' {
			kind = "list"
		}
		line := d.Line + contentLine(root, d.Raw) - 1
		return &parseErrorAt{ParseError: &ParseError{File: f.Path, Line: line, Err: fmt.Errorf("document must be a Kubernetes object (a mapping with `apiVersion` and `kind`), not a %s", kind)}, f: f, notObject: true}
	}
	objs, lerr := decodeObjects(f, d, data, root, tree, opts.Namespace, -1)
	if lerr != nil {
		return &parseErrorAt{ParseError: &ParseError{File: f.Path, Line: lerr.line, Err: lerr.err}, f: f, notObject: lerr.notObject}
	}
	d.Objects = objs
	if dups && root != nil {
		d.Warnings = duplicateKeys(f, d, root)
	} else if dups {
		d.Warnings = strictDuplicates(f, d, strictErr)
	}
	if opts.Minimal {
		for _, o := range objs {
			if o.Typed != nil {
				rules.Strip(o.Typed)
			}
		}
	}
	if opts.KeepNodes && root != nil {
		d.Node = &tree.doc
	} else {
		for _, o := range objs {
			o.Node = nil
		}
	}
	return nil
}

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

// lazyTree is a document's yaml.v3 tree, parsed on first use.
type lazyTree struct {
	raw    []byte
	parsed bool
	doc    yaml.Node
	root   *yaml.Node
}

// get returns the document's root node, or nil when yaml.v3 cannot read it.
func (t *lazyTree) get() *yaml.Node {
	if t == nil {
		return nil
	}
	if !t.parsed {
		t.parsed = true
		if yaml.Unmarshal(t.raw, &t.doc) == nil && len(t.doc.Content) > 0 {
			t.root = t.doc.Content[0]
		}
	}
	return t.root
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
	last, line := 1, 1
	for len(raw) > 0 {
		l := raw
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			l, raw = raw[:i], raw[i+1:]
		} else {
			raw = nil
		}
		if len(bytes.TrimSpace(l)) > 0 {
			last = line
		}
		line++
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
	line := 1
	for len(raw) > 0 {
		l := raw
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			l, raw = raw[:i], raw[i+1:]
		} else {
			raw = nil
		}
		if t := bytes.TrimSpace(l); len(t) > 0 && t[0] != '#' {
			return line
		}
		line++
	}
	return 1
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

// isBlank reports whether b has only spaces and comments, in printable
// ASCII: other bytes (invalid UTF-8, control characters) are errors to
// kubectl's reader even in a comment, and go to the slow path. So do tabs:
// YAML rejects a tab where a token could start ("\t" alone is an error to
// kubectl), and the slow path is kubectl's own reading.
func isBlank(b []byte) bool {
	for i, c := range b {
		// A CR alone breaks a line for YAML, not for the loop below.
		if c >= 0x7f || c < 0x20 && c != '\n' && (c != '\r' || i+1 == len(b) || b[i+1] != '\n') {
			return false
		}
	}
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
