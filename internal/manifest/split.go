package manifest

import (
	"bytes"
	"fmt"
)

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
		sep := bytes.HasPrefix(data[pos:next], []byte("---"))
		if sep && empty && validSeparator(data[pos+3:next]) && markerText(data[pos+3:next]) {
			// Kept as the chunk's first line, and more than a marker
			// to YAML: the document's text.
			sep = false
		}
		if sep {
			cur.Raw = data[start:pos]
			docs = append(docs, cur)
			cur = &Document{Separator: data[pos:next], Line: line + 1, off: next}
			if !validSeparator(data[pos+3 : next]) {
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

// validSeparator reports whether kubectl's reader takes a line of `---`
// then rest as a separator, not as an error: rest, trimmed, is empty or a
// comment.
func validSeparator(rest []byte) bool {
	t := bytes.TrimSpace(rest)
	return len(t) == 0 || t[0] == '#'
}

// markerText reports whether kubectl's reader, keeping a `---` line at the
// start of a chunk as the chunk's first line, hands YAML more than a
// document marker: what follows the `---` (rest, up to the line's end) is
// not only spaces and tabs, or those then a comment in printable ASCII. A
// control character there (`---\v`) is an error to YAML, other text may
// make the line a scalar; split then keeps the line in the document's text,
// as kubectl does, for the parser to read. An invalid separator
// (`--- x`, validSeparator) is an error whatever the chunk, and `---#` is
// split's own.
func markerText(rest []byte) bool {
	rest = bytes.TrimSuffix(bytes.TrimSuffix(rest, []byte("\n")), []byte("\r"))
	if len(rest) > 0 && rest[0] == '#' {
		return false // split's own error
	}
	i := 0
	for i < len(rest) && (rest[i] == ' ' || rest[i] == '\t') {
		i++
	}
	if i < len(rest) && (i == 0 || rest[i] != '#') {
		return true
	}
	for _, c := range rest[i:] {
		if c >= 0x7f || c < 0x20 && c != '\t' {
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
	return firstContentLine(b) == 0
}
