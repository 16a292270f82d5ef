package manifest

import (
	"bytes"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/headless-guard/headless-guard/rules"
)

// Parse splits and decodes inputs already in memory. A file (not standard
// input) none of whose documents is a Kubernetes object, such as a values
// file, a Chart.yaml or a kustomization.yaml, is left out of the set and
// listed in Set.Skipped.
func Parse(sources []Source, opts Options) (*Set, error) {
	if opts.Namespace == "" {
		opts.Namespace = "default"
	}
	opts.Minimal = opts.Minimal || opts.Encode
	files := make([]*File, len(sources))
	for i, src := range sources {
		if src.deferred {
			data, err := os.ReadFile(src.Path)
			if err != nil {
				return nil, &ParseError{File: src.Path, Err: unwrapPathError(err)}
			}
			src.Data = data
		}
		files[i] = &File{Path: src.Path, JSON: strings.EqualFold(filepath.Ext(src.Path), ".json"), Documents: split(src.Data), data: src.Data, Input: src.Input, Unit: src.Unit}
		if opts.DropText && rereadable(src.Path) {
			files[i].reread = true
			sources[i].Data = nil
		}
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
			set.Skipped = append(set.Skipped, Skip{Path: f.Path, Input: sources[i].Input, Reason: kustomizationSkip(filepath.Dir(f.Path))})
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
	if reason := layoutSkip(f.Path); reason != "" {
		return reason
	}
	return "not a Kubernetes manifest: no document has `apiVersion` and `kind`"
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
				if j.f.pending.Add(-1) == 0 && j.f.reread {
					j.f.dropText()
				}
			}
		}()
	}
	for _, f := range files {
		f.pending.Store(int32((len(f.Documents) + chunkDocs - 1) / chunkDocs))
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

// rereadable reports whether path is a regular file, which Object.Text can
// read again: not standard input, nor a pipe such as the /dev/fd/63 of
// `headless-guard check <(helm template ...)`, which is read once.
func rereadable(path string) bool {
	if path == StdinName {
		return false
	}
	info, err := os.Stat(path)
	return err == nil && info.Mode().IsRegular()
}

// dropText drops the file's text once its documents are parsed, keeping
// of each document where its bytes are and their checksum (Object.Text).
func (f *File) dropText() {
	for _, d := range f.Documents {
		d.size, d.sum = len(d.Raw), crc32.ChecksumIEEE(d.Raw)
		d.Raw, d.Separator = nil, nil
	}
	f.data = nil
}

type parseErrorAt struct {
	*ParseError
	f *File
	// notObject marks a document that is no Kubernetes object at all (no
	// `apiVersion` and `kind`, a scalar, a list): in a file of nothing
	// else, the file is not a manifest.
	notObject bool
}

// parseChunk parses consecutive documents of f (parseDocument); with
// Options.Encode it encodes their typed objects.
func parseChunk(f *File, docs []*Document, opts Options, fast *fastParser) []*parseErrorAt {
	var errs []*parseErrorAt
	for _, d := range docs {
		if err := parseDocument(f, d, opts, fast); err != nil {
			errs = append(errs, err)
		}
		if !opts.Encode {
			continue
		}
		for _, o := range d.Objects {
			if o.Typed == nil {
				continue
			}
			if e, ok := rules.Encode(o.Typed, &fast.arena); ok {
				o.Enc, o.Typed = e, nil
			}
		}
	}
	return errs
}

// parseDocument parses one document: by the fast path when it can
// (fastParser), else as kubectl reads it (parseSlow).
func parseDocument(f *File, d *Document, opts Options, fast *fastParser) *parseErrorAt {
	if d.sepErr != nil {
		return &parseErrorAt{ParseError: &ParseError{File: f.Path, Line: d.sepErr.Line, Err: d.sepErr.Err}, f: f}
	}
	if isBlank(d.Raw) {
		d.Empty = true
		return nil
	}
	if fastParse && !opts.KeepNodes && fast.decodeDocument(f, d, opts) {
		return nil
	}
	return parseSlow(f, d, opts)
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
