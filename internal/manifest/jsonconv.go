package manifest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// nodeJSON converts a YAML node tree to JSON directly, without an
// intermediate map: this is the checker's hot path.
func nodeJSON(n *yaml.Node) ([]byte, error) {
	w := &jsonWriter{budget: maxNodes}
	w.buf.Grow(1024)
	if err := w.write(n, 0); err != nil {
		return nil, err
	}
	return w.buf.Bytes(), nil
}

const (
	// maxDepth bounds recursion on hostile input (deep nesting, alias cycles).
	maxDepth = 1000
	// maxNodes bounds the nodes one document may expand to: aliases can
	// multiply a small document exponentially ("billion laughs"). The API
	// server stores objects of at most 1.5 MB, far below this.
	maxNodes = 1_000_000
)

type jsonWriter struct {
	buf    bytes.Buffer
	budget int
}

func (w *jsonWriter) write(n *yaml.Node, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("line %d: document nests deeper than %d levels", n.Line, maxDepth)
	}
	if w.budget--; w.budget < 0 {
		return fmt.Errorf("document expands to more than %d nodes (are aliases repeating each other?)", maxNodes)
	}
	buf := &w.buf
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			buf.WriteString("null")
			return nil
		}
		return w.write(n.Content[0], depth+1)
	case yaml.AliasNode:
		if n.Alias == nil {
			return fmt.Errorf("line %d: unknown alias", n.Line)
		}
		return w.write(n.Alias, depth+1)
	case yaml.SequenceNode:
		buf.WriteByte('[')
		for i, c := range n.Content {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := w.write(c, depth+1); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
		return nil
	case yaml.MappingNode:
		buf.WriteByte('{')
		first := true
		var seen keySet
		if err := w.writeMapping(n, depth, &first, &seen); err != nil {
			return err
		}
		buf.WriteByte('}')
		return nil
	case yaml.ScalarNode:
		writeScalar(buf, n)
		return nil
	}
	return fmt.Errorf("line %d: unsupported YAML node", n.Line)
}

// writeMapping writes the members of a mapping, resolving `<<` merge keys;
// keys already written win over merged ones, as YAML specifies.
func (w *jsonWriter) writeMapping(n *yaml.Node, depth int, first *bool, seen *keySet) error {
	buf := &w.buf
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
			merges = append(merges, v)
			continue
		}
		key := k.Value
		if k.Kind == yaml.AliasNode && k.Alias != nil {
			key = k.Alias.Value
		}
		if !seen.add(key) {
			continue
		}
		if !*first {
			buf.WriteByte(',')
		}
		*first = false
		writeString(buf, key)
		buf.WriteByte(':')
		if err := w.write(v, depth+1); err != nil {
			return err
		}
	}
	for _, m := range merges {
		if m.Kind == yaml.AliasNode {
			m = m.Alias
		}
		targets := []*yaml.Node{m}
		if m != nil && m.Kind == yaml.SequenceNode {
			targets = m.Content
		}
		for _, t := range targets {
			if t != nil && t.Kind == yaml.AliasNode {
				t = t.Alias
			}
			if t == nil || t.Kind != yaml.MappingNode {
				return fmt.Errorf("line %d: merge key `<<` must refer to a mapping", n.Line)
			}
			if depth > maxDepth {
				return fmt.Errorf("line %d: document nests deeper than %d levels", n.Line, maxDepth)
			}
			if err := w.writeMapping(t, depth+1, first, seen); err != nil {
				return err
			}
		}
	}
	return nil
}

func writeScalar(buf *bytes.Buffer, n *yaml.Node) {
	switch n.ShortTag() {
	case "!!null":
		buf.WriteString("null")
	case "!!bool":
		if b, err := strconv.ParseBool(strings.ToLower(n.Value)); err == nil && b {
			buf.WriteString("true")
		} else {
			buf.WriteString("false")
		}
	case "!!int":
		v := strings.ReplaceAll(n.Value, "_", "")
		if i, err := strconv.ParseInt(v, 0, 64); err == nil {
			buf.WriteString(strconv.FormatInt(i, 10))
		} else if u, err := strconv.ParseUint(v, 0, 64); err == nil {
			buf.WriteString(strconv.FormatUint(u, 10))
		} else {
			writeString(buf, n.Value)
		}
	case "!!float":
		f, err := strconv.ParseFloat(n.Value, 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			writeString(buf, n.Value)
		} else {
			buf.WriteString(strconv.FormatFloat(f, 'g', -1, 64))
		}
	default:
		writeString(buf, n.Value)
	}
}

// keySet holds the keys a mapping has written: a few, searched in a slice,
// until there are many.
type keySet struct {
	small []string
	large map[string]bool
}

// add records key and reports whether it was new.
func (k *keySet) add(key string) bool {
	if k.large != nil {
		if k.large[key] {
			return false
		}
		k.large[key] = true
		return true
	}
	for _, s := range k.small {
		if s == key {
			return false
		}
	}
	if len(k.small) < 16 {
		k.small = append(k.small, key)
		return true
	}
	k.large = make(map[string]bool, 2*len(k.small))
	for _, s := range k.small {
		k.large[s] = true
	}
	k.large[key] = true
	return true
}

// writeString writes s as a JSON string, byte for byte as json.Marshal
// does (--fix writes JSON files with it). Most strings of a manifest are
// printable ASCII that json.Marshal leaves alone: those are written as they
// are, without its allocations; others go through it (escapes, HTML
// characters, invalid UTF-8).
func writeString(buf *bytes.Buffer, s string) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s)
			buf.Write(b)
			return
		}
	}
	buf.WriteByte('"')
	buf.WriteString(s)
	buf.WriteByte('"')
}

func schemaGVK(apiVersion, kind string) schema.GroupVersionKind {
	gv, _ := schema.ParseGroupVersion(apiVersion)
	return gv.WithKind(kind)
}
