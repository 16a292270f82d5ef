package manifest

import (
	"bytes"
	"strings"
	"sync"
	"unsafe"

	"go.yaml.in/yaml/v3"
	kjson "sigs.k8s.io/json"

	"github.com/headless-guard/headless-guard/rules"
)

// The fast path: most manifests (helm template, kustomize build, kubectl
// output) are written in a small part of YAML: block mappings and
// sequences of one-line scalars, a few one-line flow collections. For a
// document entirely within that part, fastParser writes the JSON that
// sigs.k8s.io/yaml.YAMLToJSON (kubectl's and helm's reader) makes of it,
// the same values with the keys in document order, without a parser: a
// parser costs most of the checker's time and allocations.
//
// Anything outside that part (block scalars, multi-line scalars, anchors,
// aliases, tags, merge keys, quoted keys, keys that are not strings in YAML
// 1.1, escapes, tabs, CR, non-ASCII text, duplicate keys, `kind: List`, a
// decoding error...) makes the fast path give up on the document, which is
// then read by sigs.k8s.io/yaml itself (parseSlow): errors, their lines and
// messages, and the warnings about duplicate keys come from there. The fast
// path never reports an error itself, so where it succeeds it only has to
// agree with sigs.k8s.io/yaml on valid input (TestFastParseMatchesKubectl,
// FuzzFastParse).

// fastParse is off only in tests and benchmarks that compare the fast path
// with the slow one.
var fastParse = true

const (
	// fastMaxBytes: bigger documents go to the slow path.
	fastMaxBytes = 256 << 10
	// fastMaxDepth: deeper documents go to the slow path (and its limits).
	fastMaxDepth = 64
	// fastMaxKey: YAML parsers refuse simple keys longer than 1024 characters.
	fastMaxKey = 512
)

// What a mapping's scalars are recorded for (decodeObjects' scalarAt).
const (
	wantNone = iota
	wantRoot // apiVersion, kind
	wantMeta // metadata.name, namespace, generateName
)

// fastLine is a line of the document with content (not blank, not only a
// comment).
type fastLine struct {
	start  int // offset of the first non-space byte
	end    int // offset of the line's end (its newline or the end of text)
	indent int // leading spaces
	num    int // 1-based line number in the document
}

// fastParser is one worker's state; it is reused from document to
// document so that parsing allocates nothing but the decoded objects.
type fastParser struct {
	src   []byte
	lines []fastLine
	buf   bytes.Buffer
	// keys of the mappings being written: a duplicate key sends the
	// document to the slow path, which keeps the last value as kubectl
	// does and warns (JSON with both would merge them when decoded).
	keys  []string
	depth int
	// The scalars decodeObjects reads: aliases into src until copied.
	apiVersion, kind, name, namespace, generateName string
	// items is set when the object has an `items` key: kubectl's decoder
	// then reads it as a list whatever its kind, which the slow path
	// follows.
	items bool
	// root, when set, receives the document's tree (fastTree).
	root *yaml.Node
	// arena holds the encodings of the worker's objects (Options.Encode).
	arena rules.Arena
}

// decodeDocument decodes d by the fast path and reports whether it could.
// It sets nothing on d unless it succeeds.
func (p *fastParser) decodeDocument(f *File, d *Document, opts Options) bool {
	if !p.parse(d.Raw) {
		return false
	}
	apiVersion, kind := p.apiVersion, p.kind
	if apiVersion == "" || kind == "" || p.items || strings.HasSuffix(kind, "List") && apiVersion == "v1" {
		return false
	}
	obj := &Object{File: f, Doc: d, item: -1, line: p.lines[0].num, Ref: rules.ObjectRef{
		APIVersion: strings.Clone(apiVersion),
		Kind:       strings.Clone(kind),
		Name:       strings.Clone(p.name),
		Namespace:  strings.Clone(p.namespace),
	}}
	if obj.Ref.Name == "" {
		obj.Ref.Name = strings.Clone(p.generateName)
		obj.Generated = obj.Ref.Name != ""
	}
	typed := newTyped(apiVersion, kind)
	if typed == nil {
		obj.Workload = hasPodTemplate(p.buf.Bytes())
	} else {
		if kjson.UnmarshalCaseSensitivePreserveInts(p.buf.Bytes(), typed) != nil {
			return false // the slow path reports the error and its line
		}
		setTyped(obj, typed, opts.Namespace)
		if opts.Minimal {
			rules.Strip(typed)
		}
	}
	d.Objects = []*Object{obj}
	return true
}

// parse writes src's JSON into p.buf and records the root's scalars; false
// when src is not within the fast path's part of YAML.
func (p *fastParser) parse(src []byte) bool {
	p.src = src
	p.buf.Reset()
	p.keys = p.keys[:0]
	p.depth = 0
	p.apiVersion, p.kind, p.name, p.namespace, p.generateName = "", "", "", "", ""
	p.items = false
	if len(src) > fastMaxBytes || !p.scanLines() || len(p.lines) == 0 {
		return false
	}
	first := p.lines[0]
	if isDash(p.src[first.start:first.end]) {
		return false
	}
	next, ok := p.mapping(0, first.start, first.indent, wantRoot, p.root)
	return ok && next == len(p.lines)
}

// fastTree parses src by the fast path into a tree of the nodes locate reads
// (kind, line, value, content), the same as yaml.v3's; nil when src is not
// within the fast path's part of YAML.
func fastTree(src []byte) *yaml.Node {
	p := treeParsers.Get().(*fastParser)
	defer treeParsers.Put(p)
	root := &yaml.Node{Kind: yaml.DocumentNode}
	p.root = root
	ok := p.parse(src)
	p.root, p.src = nil, nil
	if !ok {
		return nil
	}
	return root.Content[0]
}

// treeParsers are fastTree's parsers: their lines and buffer serve again,
// for the next document a finding is placed in.
var treeParsers = sync.Pool{New: func() any { return &fastParser{} }}

// node adds a node to parent when the parser builds a tree.
func node(parent *yaml.Node, kind yaml.Kind, line int, value string) *yaml.Node {
	if parent == nil {
		return nil
	}
	n := &yaml.Node{Kind: kind, Line: line, Value: value}
	parent.Content = append(parent.Content, n)
	return n
}

// scanLines finds the lines with content; false for text the fast path
// leaves to the slow path: anything but printable ASCII (tabs, CR, Unicode line
// breaks and the rest), directives, document markers.
func (p *fastParser) scanLines() bool {
	src := p.src
	p.lines = p.lines[:0]
	num := 0
	for pos := 0; pos < len(src); {
		num++
		end := bytes.IndexByte(src[pos:], '\n')
		if end < 0 {
			end = len(src)
		} else {
			end += pos
		}
		line := src[pos:end]
		for _, c := range line {
			if c < 0x20 || c > 0x7e {
				return false
			}
		}
		i := 0
		for i < len(line) && line[i] == ' ' {
			i++
		}
		if i < len(line) && line[i] != '#' {
			if i == 0 && (line[0] == '%' || bytes.HasPrefix(line, []byte("---")) || bytes.HasPrefix(line, []byte("..."))) {
				return false
			}
			p.lines = append(p.lines, fastLine{start: pos + i, end: end, indent: i, num: num})
		}
		pos = end + 1
	}
	return true
}

func (p *fastParser) text(li int) []byte {
	l := p.lines[li]
	return p.src[l.start:l.end]
}

// str views b, a part of src, as a string without copying: src is not
// modified while the parser runs, and kept strings are copied.
func str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// isDash reports whether a line (from its first non-space byte) is a
// block sequence entry.
func isDash(line []byte) bool {
	return len(line) > 0 && line[0] == '-' && (len(line) == 1 || line[1] == ' ')
}

// isKeyByte is what a key may be made of on the fast path: enough for the
// keys of Kubernetes objects, labels, annotations and ConfigMap data.
func isKeyByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '/'
}

// keyAt returns the length of the key at the start of line when the line
// is a block mapping entry (`key:` then a space or the end of the line),
// or 0.
func keyAt(line []byte) int {
	if len(line) == 0 || line[0] == '-' {
		return 0
	}
	i := 0
	for i < len(line) && isKeyByte(line[i]) {
		i++
	}
	if i == 0 || i > fastMaxKey || i >= len(line) || line[i] != ':' || i+1 < len(line) && line[i+1] != ' ' {
		return 0
	}
	return i
}

func skipSpaces(b []byte) []byte {
	for len(b) > 0 && b[0] == ' ' {
		b = b[1:]
	}
	return b
}

// addKey records a key of the mapping whose keys start at mark; false if
// the mapping already has it, or if it is not a string in YAML 1.1 (`on:`
// is the key "true" to kubectl, `1:` the key "1").
func (p *fastParser) addKey(mark int, key string) bool {
	if _, kind := resolvePlain(nil, key); kind != plainString {
		return false
	}
	for _, k := range p.keys[mark:] {
		if k == key {
			return false
		}
	}
	if len(p.keys)-mark >= 256 {
		return false // quadratic from here on; the slow path takes it
	}
	p.keys = append(p.keys, key)
	return true
}

func childWant(want int, key string) int {
	if want == wantRoot && key == "metadata" {
		return wantMeta
	}
	return wantNone
}

// record keeps the scalars decodeObjects reads.
func (p *fastParser) record(want int, key, value string) {
	switch want {
	case wantRoot:
		switch key {
		case "apiVersion":
			p.apiVersion = value
		case "kind":
			p.kind = value
		}
	case wantMeta:
		switch key {
		case "name":
			p.name = value
		case "namespace":
			p.namespace = value
		case "generateName":
			p.generateName = value
		}
	}
}

// mapping writes the block mapping whose first key is at offset at of line
// li, its keys indented by indent, and returns the line after it.
func (p *fastParser) mapping(li, at, indent, want int, parent *yaml.Node) (int, bool) {
	if p.depth++; p.depth > fastMaxDepth {
		return 0, false
	}
	n := node(parent, yaml.MappingNode, p.lines[li].num, "")
	mark := len(p.keys)
	p.buf.WriteByte('{')
	for first := true; li < len(p.lines); first = false {
		l := p.lines[li]
		if !first {
			if l.indent < indent {
				break
			}
			if l.indent > indent {
				return 0, false
			}
			at = l.start
		}
		line := p.src[at:l.end]
		k := keyAt(line)
		if k == 0 {
			return 0, false
		}
		key := str(line[:k])
		if !p.addKey(mark, key) {
			return 0, false
		}
		p.items = p.items || want == wantRoot && key == "items"
		if !first {
			p.buf.WriteByte(',')
		}
		writeString(&p.buf, key)
		p.buf.WriteByte(':')
		node(n, yaml.ScalarNode, l.num, key)
		sub := childWant(want, key)
		rest := skipSpaces(line[k+1:])
		if len(rest) > 0 && rest[0] != '#' {
			v, str, ok := p.inline(rest, sub, n, l.num)
			if !ok {
				return 0, false
			}
			if str {
				p.record(want, key, v)
			}
			li++
			continue
		}
		// The value is on the next lines: more indented, or a sequence
		// at the key's own indentation; else it is null.
		li++
		var ok bool
		switch {
		case li < len(p.lines) && p.lines[li].indent > indent:
			li, ok = p.block(li, sub, n)
		case li < len(p.lines) && p.lines[li].indent == indent && isDash(p.text(li)):
			li, ok = p.sequence(li, indent, n)
		default:
			p.buf.WriteString("null")
			p.record(want, key, "")
			node(n, yaml.ScalarNode, l.num, "")
			ok = true
		}
		if !ok {
			return 0, false
		}
	}
	p.keys = p.keys[:mark]
	p.buf.WriteByte('}')
	p.depth--
	return li, true
}

// block writes the block collection starting on line li.
func (p *fastParser) block(li, want int, parent *yaml.Node) (int, bool) {
	l := p.lines[li]
	if isDash(p.text(li)) {
		return p.sequence(li, l.indent, parent)
	}
	return p.mapping(li, l.start, l.indent, want, parent)
}

// sequence writes the block sequence whose `-` entries are indented by
// indent, starting on line li, and returns the line after it.
func (p *fastParser) sequence(li, indent int, parent *yaml.Node) (int, bool) {
	if p.depth++; p.depth > fastMaxDepth {
		return 0, false
	}
	n := node(parent, yaml.SequenceNode, p.lines[li].num, "")
	p.buf.WriteByte('[')
	for first := true; li < len(p.lines); first = false {
		l := p.lines[li]
		if l.indent < indent {
			break
		}
		if l.indent > indent {
			return 0, false
		}
		line := p.src[l.start:l.end]
		if !isDash(line) {
			break // the parent mapping goes on, or refuses the line
		}
		if !first {
			p.buf.WriteByte(',')
		}
		rest := skipSpaces(line[1:])
		var ok bool
		switch {
		case len(rest) == 0 || rest[0] == '#':
			li++
			if li < len(p.lines) && p.lines[li].indent > indent {
				li, ok = p.block(li, wantNone, n)
			} else {
				p.buf.WriteString("null")
				node(n, yaml.ScalarNode, l.num, "")
				ok = true
			}
		case rest[0] == '-':
			return 0, false // `- - x`, or a plain scalar a parser may read otherwise
		case keyAt(rest) > 0:
			// `- key: value`: a mapping whose keys line up with this one.
			at := len(line) - len(rest)
			li, ok = p.mapping(li, l.start+at, indent+at, wantNone, n)
		default:
			_, _, ok = p.inline(rest, wantNone, n, l.num)
			li++
		}
		if !ok {
			return 0, false
		}
	}
	p.buf.WriteByte(']')
	p.depth--
	return li, true
}

// inline writes the value that ends its line: a scalar or a one-line flow
// collection, then spaces and maybe a comment. For a scalar that is a
// string it returns its value, and isString.
func (p *fastParser) inline(s []byte, want int, parent *yaml.Node, line int) (value string, isString, ok bool) {
	var n int
	switch s[0] {
	case '"', '\'':
		value, n, ok = p.quoted(s)
		isString = true
		node(parent, yaml.ScalarNode, line, value)
	case '[', '{':
		n, ok = p.flow(s, 0, want, parent, line)
	default:
		// A plain scalar runs to a comment or the end of the line.
		end := len(s)
		if i := bytes.Index(s, []byte(" #")); i >= 0 {
			end = i
		}
		v := bytes.TrimRight(s[:end], " ")
		if !plainStart(v, false) || bytes.Contains(v, []byte(": ")) || v[len(v)-1] == ':' {
			return "", false, false
		}
		value = str(v)
		isString, ok = p.writePlain(value)
		node(parent, yaml.ScalarNode, line, value)
		return value, isString, ok
	}
	if !ok {
		return "", false, false
	}
	// After a quoted scalar or a flow collection: spaces, then the end of
	// the line or a comment.
	rest := s[n:]
	if len(rest) > 0 && rest[0] != ' ' {
		return "", false, false
	}
	if rest = skipSpaces(rest); len(rest) > 0 && rest[0] != '#' {
		return "", false, false
	}
	return value, isString, true
}

// plainStart reports whether v (trimmed, non-empty) can start a plain
// scalar that a YAML parser reads as one: no indicator first.
func plainStart(v []byte, flow bool) bool {
	if len(v) == 0 {
		return false
	}
	switch v[0] {
	case ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"', '%', '@', '`', '?', ':':
		return false
	case '-':
		if len(v) == 1 || v[1] == ' ' || flow && bytes.IndexByte([]byte(",[]{}"), v[1]) >= 0 {
			return false
		}
	}
	return true
}

// writePlain writes a plain scalar as sigs.k8s.io/yaml does, resolved as
// YAML 1.1 resolves it, and reports whether it is a string; false ok for
// one the fast path leaves to the slow one.
func (p *fastParser) writePlain(v string) (isString, ok bool) {
	// Most scalars of a manifest are names and small numbers; only these
	// first bytes can make anything but a string (go-yaml v2's resolveTable).
	switch c := v[0]; {
	case '1' <= c && c <= '9' && len(v) < 19 && isDigits(v), v == "0":
		// A decimal int (no leading 0: octal), as strconv writes it back.
		p.buf.WriteString(v)
		return false, true
	case strings.IndexByte("yYnNtTfFoO~.+-0123456789<", c) >= 0:
		out, kind := resolvePlain(p.buf.AvailableBuffer(), v)
		switch kind {
		case plainRefused:
			return false, false
		case plainString:
			writeString(&p.buf, v)
			return true, true
		}
		p.buf.Write(out)
		return false, true
	}
	writeString(&p.buf, v)
	return true, true
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// quoted writes the quoted scalar at the start of s, on one line and
// without escapes (but `”`), and returns its value and length.
func (p *fastParser) quoted(s []byte) (string, int, bool) {
	q := s[0]
	if q == '"' {
		end := bytes.IndexByte(s[1:], '"')
		if end < 0 {
			return "", 0, false
		}
		v := s[1 : 1+end]
		if bytes.IndexByte(v, '\\') >= 0 {
			return "", 0, false
		}
		writeString(&p.buf, str(v))
		return str(v), end + 2, true
	}
	// Single quotes: '' stands for '.
	i := 1
	escaped := false
	for {
		j := bytes.IndexByte(s[i:], '\'')
		if j < 0 {
			return "", 0, false
		}
		i += j
		if i+1 < len(s) && s[i+1] == '\'' {
			escaped = true
			i += 2
			continue
		}
		break
	}
	v := str(s[1:i])
	if escaped {
		v = strings.ReplaceAll(v, "''", "'")
	}
	writeString(&p.buf, v)
	return v, i + 1, true
}

// flow writes the one-line flow collection at s[i] and returns the offset
// after it.
func (p *fastParser) flow(s []byte, i, want int, parent *yaml.Node, line int) (int, bool) {
	if p.depth++; p.depth > fastMaxDepth {
		return 0, false
	}
	open := s[i]
	closing := byte(']')
	kind := yaml.SequenceNode
	if open == '{' {
		closing, kind = '}', yaml.MappingNode
	}
	n := node(parent, kind, line, "")
	mark := len(p.keys)
	p.buf.WriteByte(open)
	i++
	for first := true; ; first = false {
		for i < len(s) && s[i] == ' ' {
			i++
		}
		if i >= len(s) {
			return 0, false // continues on the next line
		}
		if s[i] == closing && first {
			break
		}
		if !first {
			p.buf.WriteByte(',')
		}
		sub := wantNone
		var key string
		if open == '{' {
			k := 0
			for i+k < len(s) && isKeyByte(s[i+k]) {
				k++
			}
			// `key: value`, the colon followed by a space.
			if k == 0 || k > fastMaxKey || s[i] == '-' || i+k+1 >= len(s) || s[i+k] != ':' || s[i+k+1] != ' ' {
				return 0, false
			}
			key = str(s[i : i+k])
			if !p.addKey(mark, key) {
				return 0, false
			}
			p.items = p.items || want == wantRoot && key == "items"
			writeString(&p.buf, key)
			p.buf.WriteByte(':')
			node(n, yaml.ScalarNode, line, key)
			sub = childWant(want, key)
			i += k + 1
			for i < len(s) && s[i] == ' ' {
				i++
			}
			if i >= len(s) {
				return 0, false
			}
		}
		// The value (or item).
		var ok bool
		switch s[i] {
		case '"', '\'':
			var v string
			var size int
			if v, size, ok = p.quoted(s[i:]); ok {
				p.record(want, key, v)
				node(n, yaml.ScalarNode, line, v)
				i += size
			}
		case '[', '{':
			i, ok = p.flow(s, i, sub, n, line)
		default:
			// A plain scalar in a flow collection ends at any of these; the
			// input then continues with something other than ',' or the
			// closing bracket, and the document goes to the slow path, which has
			// rules of its own for ':', '#' and '?' inside flow scalars.
			end := i
			for end < len(s) && bytes.IndexByte([]byte(",[]{}:#?"), s[end]) < 0 {
				end++
			}
			v := bytes.TrimRight(s[i:end], " ")
			if ok = plainStart(v, true); ok {
				var isString bool
				if isString, ok = p.writePlain(str(v)); isString {
					p.record(want, key, str(v))
				}
				node(n, yaml.ScalarNode, line, str(v))
				i = end
			}
		}
		if !ok {
			return 0, false
		}
		for i < len(s) && s[i] == ' ' {
			i++
		}
		if i >= len(s) {
			return 0, false
		}
		if s[i] == closing {
			break
		}
		if s[i] != ',' {
			return 0, false
		}
		// No trailing comma.
		if i++; bytes.HasPrefix(bytes.TrimLeft(s[i:], " "), []byte{closing}) {
			return 0, false
		}
	}
	p.keys = p.keys[:mark]
	p.buf.WriteByte(closing)
	p.depth--
	return i + 1, true
}
