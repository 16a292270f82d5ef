package manifest

import (
	"hash/crc32"
	"os"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// locate finds the node at a field path such as "spec.ports[0].name" (the
// form field.Path prints) or "spec.template.spec.containers.ports" (the form
// encoding/json reports, without indexes). It returns the deepest node on the
// path that exists, so a finding about a missing field points at its parent.
func locate(root *yaml.Node, path string) *yaml.Node {
	cur := root
	for _, seg := range splitPath(path) {
		next := step(cur, seg)
		if next == nil {
			break
		}
		cur = next
	}
	return cur
}

func step(n *yaml.Node, seg string) *yaml.Node {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	switch n.Kind {
	case yaml.MappingNode:
		// Of a key set twice, the last: the value kubectl reads.
		for i := len(n.Content) - 2; i >= 0; i -= 2 {
			if n.Content[i].Value == seg {
				// A key's own line is where users look for its value too.
				v := n.Content[i+1]
				if v.Kind == yaml.MappingNode || v.Kind == yaml.SequenceNode {
					return withLine(v, n.Content[i].Line)
				}
				return v
			}
		}
	case yaml.SequenceNode:
		if i, err := strconv.Atoi(seg); err == nil {
			if i >= 0 && i < len(n.Content) {
				return n.Content[i]
			}
			return nil
		}
		for _, item := range n.Content {
			if found := step(item, seg); found != nil {
				return found
			}
		}
	}
	return nil
}

// withLine returns a shallow copy of n whose Line is the key's line, so that
// locate reports `labels:` rather than the first label under it.
func withLine(n *yaml.Node, line int) *yaml.Node {
	c := *n
	c.Line = line
	return &c
}

// splitPath splits "a.b[0].c[key]" into a, b, 0, c, key.
func splitPath(path string) []string {
	var out []string
	for _, part := range strings.Split(path, ".") {
		for part != "" {
			open := strings.IndexByte(part, '[')
			if open < 0 {
				out = append(out, part)
				break
			}
			if open > 0 {
				out = append(out, part[:open])
			}
			end := strings.IndexByte(part[open:], ']')
			if end < 0 {
				out = append(out, part[open+1:])
				break
			}
			out = append(out, part[open+1:open+end])
			part = part[open+end+1:]
		}
	}
	return out
}

// FieldLine returns the file line of a field of the object, or of its
// deepest existing parent.
func (o *Object) FieldLine(path string) int {
	if path == "" {
		return o.Line()
	}
	return o.fieldLine(o.node(), path)
}

// FieldLines returns FieldLine of each path, parsing the document again
// (when its tree was not kept) at most once for all of them.
func (o *Object) FieldLines(paths []string) []int {
	lines := make([]int, len(paths))
	var node *yaml.Node
	parsed := false
	for i, path := range paths {
		if path == "" {
			lines[i] = o.Line()
			continue
		}
		if !parsed {
			node, parsed = o.node(), true
		}
		lines[i] = o.fieldLine(node, path)
	}
	return lines
}

func (o *Object) fieldLine(node *yaml.Node, path string) int {
	if path == "" || node == nil {
		return o.Line()
	}
	return o.Doc.Line + locate(node, path).Line - 1
}

// node returns the object's YAML node, parsing its document again when the
// tree was not kept.
func (o *Object) node() *yaml.Node {
	if o.Node != nil {
		return o.Node
	}
	raw := o.Text()
	if raw == nil {
		return nil
	}
	if o.item < 0 && fastParse {
		if root := fastTree(raw); root != nil {
			return root
		}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil || len(doc.Content) == 0 {
		return nil
	}
	root := doc.Content[0]
	if o.item < 0 {
		return root
	}
	if items := valueAt(root, "items"); items != nil && o.item < len(items.Content) {
		return items.Content[o.item]
	}
	return nil
}

// Text returns the source text of the object's document (all of a List's
// items share it): Document.Raw, or when Options.DropText dropped it, the
// document's bytes read again from its file. It is nil when the file can no
// longer be read or no longer holds the same bytes there; a finding is then
// placed on the object's first line.
func (o *Object) Text() []byte {
	d := o.Doc
	if d.Raw != nil || d.size == 0 {
		return d.Raw
	}
	f, err := os.Open(o.File.Path)
	if err != nil {
		return nil
	}
	defer f.Close()
	raw := make([]byte, d.size)
	if _, err := f.ReadAt(raw, int64(d.off)); err != nil || crc32.ChecksumIEEE(raw) != d.sum {
		return nil
	}
	return raw
}
