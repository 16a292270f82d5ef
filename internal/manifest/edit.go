package manifest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/headless-guard/headless-guard/rules"
)

// ApplyPatches applies JSON Patch "add"/"replace" operations to the object's
// YAML node in place, keeping comments and key order, and marks its document
// changed.
func (o *Object) ApplyPatches(ops []rules.PatchOp) error {
	if o.Node == nil {
		return fmt.Errorf("%s: its document cannot be edited: loaded without KeepNodes, or yaml.v3 cannot read it", o.Ref)
	}
	for _, op := range ops {
		if op.Op != "add" && op.Op != "replace" {
			return fmt.Errorf("patch %s %s: only add and replace are supported", op.Op, op.Path)
		}
		if err := setAt(o.Node, op.Path, op.Value); err != nil {
			return fmt.Errorf("%s: patch %s: %w", o.Ref, op.Path, err)
		}
		o.Doc.Changed = true
	}
	return nil
}

// setAt sets the value at a JSON Pointer, creating missing mappings.
func setAt(root *yaml.Node, pointer string, value any) error {
	if !strings.HasPrefix(pointer, "/") {
		return fmt.Errorf("invalid JSON pointer %q", pointer)
	}
	tokens := strings.Split(pointer[1:], "/")
	for i := range tokens {
		tokens[i] = strings.ReplaceAll(strings.ReplaceAll(tokens[i], "~1", "/"), "~0", "~")
	}
	cur := root
	for i, tok := range tokens {
		last := i == len(tokens)-1
		switch cur.Kind {
		case yaml.MappingNode:
			var child *yaml.Node
			// Of a key set twice, the last: the value kubectl reads.
			for j := len(cur.Content) - 2; j >= 0 && child == nil; j -= 2 {
				if cur.Content[j].Value == tok {
					child = cur.Content[j+1]
					if last {
						v, err := valueNode(value)
						if err != nil {
							return err
						}
						v.HeadComment, v.LineComment, v.FootComment = child.HeadComment, child.LineComment, child.FootComment
						cur.Content[j+1] = v
						return nil
					}
				}
			}
			if child == nil {
				var v *yaml.Node
				if last {
					var err error
					if v, err = valueNode(value); err != nil {
						return err
					}
				} else {
					v = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
				}
				cur.Content = append(cur.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: tok}, v)
				if last {
					return nil
				}
				child = v
			}
			cur = child
		case yaml.SequenceNode:
			idx, err := strconv.Atoi(tok)
			if err != nil || idx < 0 || idx >= len(cur.Content) {
				return fmt.Errorf("no list item %q", tok)
			}
			if last {
				v, err := valueNode(value)
				if err != nil {
					return err
				}
				cur.Content[idx] = v
				return nil
			}
			cur = cur.Content[idx]
		default:
			return fmt.Errorf("cannot descend into a scalar at %q", tok)
		}
	}
	return nil
}

// valueNode turns a Go value into a YAML node, sorting map keys.
func valueNode(v any) (*yaml.Node, error) {
	switch x := v.(type) {
	case string:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: x}, nil
	case map[string]string:
		n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k}, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: x[k]})
		}
		return n, nil
	}
	data, err := sigsyaml.Marshal(v)
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	return doc.Content[0], nil
}

// AppendObject appends a new object (an injected Service) as a document at
// the end of the file. Without keepNamespace its namespace is left out, so
// that a manifest without namespaces stays one (kustomize and helm set them).
func (f *File) AppendObject(obj metav1.Object, keepNamespace bool) error {
	if !keepNamespace {
		obj = copyWithoutNamespace(obj)
	}
	data, err := sigsyaml.Marshal(obj)
	if err != nil {
		return err
	}
	data = bytes.ReplaceAll(data, []byte("\n  creationTimestamp: null"), nil)
	data = bytes.ReplaceAll(data, []byte("status:\n  loadBalancer: {}\n"), nil)
	var node yaml.Node
	if err := yaml.Unmarshal(data, &node); err != nil {
		return err
	}
	f.Documents = append(f.Documents, &Document{Raw: data, Separator: []byte("---\n"), Node: &node, Appended: true})
	return nil
}

// WriteTo writes the file back: unchanged documents byte for byte, changed
// ones re-encoded with their comments, key order and sequence indentation.
func (f *File) WriteTo(w io.Writer) (int64, error) {
	var buf bytes.Buffer
	if f.JSON && f.changed() {
		return f.writeJSON(w)
	}
	for i, d := range f.Documents {
		sep := d.Separator
		if len(sep) == 0 && i > 0 {
			sep = []byte("---\n")
		}
		if i > 0 && buf.Len() > 0 && !bytes.HasSuffix(buf.Bytes(), []byte("\n")) {
			buf.WriteByte('\n')
		}
		buf.Write(sep)
		if !d.Changed || d.Node == nil {
			buf.Write(d.Raw)
			continue
		}
		// Only documents that were edited are re-encoded.
		style := kyaml.DeriveSeqIndentStyle(string(d.Raw))
		out, err := kyaml.MarshalWithOptions(d.Node, &kyaml.EncoderOptions{SeqIndent: kyaml.SequenceIndentStyle(style)})
		if err != nil {
			return 0, fmt.Errorf("%s:%d: %w", f.Path, d.Line, err)
		}
		buf.Write(keepCommentSpacing(d.Raw, out))
	}
	n, err := w.Write(buf.Bytes())
	return int64(n), err
}

// Changed reports whether a fix edited a document of the file or appended one.
func (f *File) Changed() bool { return f.changed() }

func (f *File) changed() bool {
	for _, d := range f.Documents {
		if d.Changed || d.Appended {
			return true
		}
	}
	return false
}

// writeJSON writes a changed JSON file as indented JSON, one value per document.
func (f *File) writeJSON(w io.Writer) (int64, error) {
	var total int64
	for _, d := range f.Documents {
		if d.Node == nil {
			continue
		}
		data, err := documentJSON(d.Node)
		if err != nil {
			return total, err
		}
		var out bytes.Buffer
		if err := json.Indent(&out, data, "", "  "); err != nil {
			return total, err
		}
		out.WriteByte('\n')
		n, err := w.Write(out.Bytes())
		total += int64(n)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

func copyWithoutNamespace(obj metav1.Object) metav1.Object {
	if c, ok := obj.(kruntime.Object); ok {
		cp := c.DeepCopyObject().(metav1.Object)
		cp.SetNamespace("")
		return cp
	}
	return obj
}

// HasNamespace reports whether the object's manifest sets metadata.namespace.
func (o *Object) HasNamespace() bool {
	return scalarAt(valueAt(o.Node, "metadata"), "namespace") != ""
}

// documentJSON is the JSON of an edited document as kubectl reads it
// (sigs.k8s.io/yaml of its YAML), with the keys in the document's order.
func documentJSON(doc *yaml.Node) ([]byte, error) {
	text, err := yaml.Marshal(doc)
	if err != nil {
		return nil, err
	}
	data, err := sigsyaml.YAMLToJSON(text)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	root := doc
	if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		root = root.Content[0]
	}
	var buf bytes.Buffer
	if err := writeOrdered(&buf, root, v, 0); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// writeOrdered writes v, the JSON value of node, with the keys of each
// object in the order node has them; keys node does not spell out (merged
// with `<<`) follow, sorted.
func writeOrdered(buf *bytes.Buffer, node *yaml.Node, v any, depth int) error {
	for node != nil && node.Kind == yaml.AliasNode {
		node = node.Alias
	}
	if depth > maxDepth {
		return fmt.Errorf("document nests deeper than %d levels", maxDepth)
	}
	switch x := v.(type) {
	case map[string]any:
		var order []string
		seen := map[string]bool{}
		if node != nil && node.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(node.Content); i += 2 {
				if k := node.Content[i].Value; !seen[k] {
					if _, ok := x[k]; ok {
						seen[k] = true
						order = append(order, k)
					}
				}
			}
		}
		var rest []string
		for k := range x {
			if !seen[k] {
				rest = append(rest, k)
			}
		}
		sort.Strings(rest)
		buf.WriteByte('{')
		for i, k := range append(order, rest...) {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeString(buf, k)
			buf.WriteByte(':')
			if err := writeOrdered(buf, valueAt(node, k), x[k], depth+1); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
		return nil
	case []any:
		buf.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				buf.WriteByte(',')
			}
			var item *yaml.Node
			if node != nil && node.Kind == yaml.SequenceNode && i < len(node.Content) {
				item = node.Content[i]
			}
			if err := writeOrdered(buf, item, e, depth+1); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	buf.Write(b)
	return nil
}

// lineComment splits a line at the spaces before a trailing comment.
var lineComment = regexp.MustCompile(`^(.*?\S)[ \t]+(#.*)$`)

// keepCommentSpacing gives each line of the re-encoded document out that
// ends in a comment the spacing before the comment it had in raw: the
// encoder writes one space (`name: api # why`), which turned aligned
// comments into a diff on every line it re-encoded. A line is restored
// only when its content and comment are those of a line of raw, with the
// same indentation.
func keepCommentSpacing(raw, out []byte) []byte {
	if !bytes.Contains(raw, []byte("#")) {
		return out
	}
	orig := map[string]string{}
	for _, l := range strings.Split(string(raw), "\n") {
		l = strings.TrimRight(l, "\r")
		if m := lineComment.FindStringSubmatch(l); m != nil {
			key := m[1] + " " + m[2]
			if _, seen := orig[key]; !seen {
				orig[key] = l
			}
		}
	}
	if len(orig) == 0 {
		return out
	}
	lines := strings.Split(string(out), "\n")
	for i, l := range lines {
		if m := lineComment.FindStringSubmatch(l); m != nil {
			if o, ok := orig[m[1]+" "+m[2]]; ok {
				lines[i] = o
			}
		}
	}
	return []byte(strings.Join(lines, "\n"))
}
