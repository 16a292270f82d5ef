package manifest

import (
	"io"
	"sync/atomic"

	"go.yaml.in/yaml/v3"
	kruntime "k8s.io/apimachinery/pkg/runtime"

	"github.com/headless-guard/headless-guard/rules"
)

// Stdin is the path that means standard input.
const Stdin = "-"

// StdinName is how standard input is named in reports.
const StdinName = "<stdin>"

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
	// data is the file's text; the documents' Raw are slices of it. nil
	// once Options.DropText has dropped it.
	data []byte
	// reread is set when Options.DropText drops the text: the file is a
	// regular one, which Object.Text can read again.
	reread bool
	// pending counts the chunks of the file's documents not parsed yet
	// (parseAll): the last one done drops the text with DropText.
	pending atomic.Int32
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
	// size and sum are the length and CRC-32 (IEEE) of Raw, kept when
	// Options.DropText drops it: Object.Text reads those bytes again and
	// checks that they are the same.
	size int
	sum  uint32
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
	// Typed is the decoded object for the kinds the rules read; nil
	// otherwise, and with Options.Encode, which keeps it in Enc instead.
	Typed kruntime.Object
	// Enc is the object kept encoded (Options.Encode): Enc.Object()
	// decodes it.
	Enc rules.Encoded
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

// IsTyped reports whether the object is of a kind the rules read, decoded
// (Typed) or encoded (Enc).
func (o *Object) IsTyped() bool { return o.Typed != nil || o.Enc.Valid() }

// TypedObject is Typed, or with Options.Encode a new decoding of Enc;
// nil for an object of a kind the rules do not read.
func (o *Object) TypedObject() kruntime.Object {
	if o.Typed != nil || !o.Enc.Valid() {
		return o.Typed
	}
	return o.Enc.Object()
}

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
	// DropText drops the text of each regular file once its documents
	// are parsed (standard input and pipes, such as the /dev/fd/63 of
	// `check <(helm template ...)`, cannot be read again and keep theirs):
	// Object.Text reads a document's bytes from its file again when a
	// finding is placed on its line or a ConfigMap is decoded, which few
	// documents need. With it, Parse takes the Data of the sources it
	// drops: it clears them in the slice it is given, so that nothing else
	// holds the text. The checker's memory then holds no copy of its input.
	// Collect then reads no regular file but a chart's templates (whose
	// text says whether to skip them): Parse reads each when it parses it.
	DropText bool
	// Minimal keeps of each typed object only what the rules read
	// (rules.Strip): the checker's memory then grows with the wiring, not
	// with env, resources and volume claim templates.
	Minimal bool
	// Encode keeps each typed object, once Minimal has stripped it,
	// encoded (Object.Enc, rules.Encoded) instead of decoded: a fifth to a
	// tenth of the memory, and none for the garbage collector to scan.
	// The checker decodes an object again to evaluate it. It implies
	// Minimal.
	Encode bool
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
	// deferred is set by Collect with Options.DropText for a regular file
	// it has not read: Parse reads it.
	deferred bool
}

// Skip is an input file that is not a manifest, left out with a note.
type Skip struct {
	Path   string
	Reason string
	// Input is the index of the PATH argument the file was found under.
	Input int
}
