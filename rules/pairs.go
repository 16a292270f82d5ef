package rules

import (
	"encoding/binary"
	"sort"
)

// The pairs encoding keeps a label map or a selector in a string, without
// a map's pointers: each pair, ordered by key, as the key's length (a
// uvarint), the key, the value's length and the value. Encoded keeps its
// selector or template labels so, and so do the webhook cache's records
// (internal/lookup).

// AppendPairs appends m to b in the pairs encoding.
func AppendPairs(b []byte, m map[string]string) []byte {
	if len(m) == 0 {
		return b
	}
	var buf [16]string
	keys := buf[:0]
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := m[k]
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
	}
	return b
}

// PairReader reads the pairs AppendPairs wrote, in order.
type PairReader struct{ s string }

// Pairs returns a reader of s, in the pairs encoding.
func Pairs(s string) PairReader { return PairReader{s: s} }

// Next returns the next pair; ok is false when there is none (or what is
// left is not AppendPairs', which only a bug would make: it ends there).
func (p *PairReader) Next() (key, value string, ok bool) {
	if key, ok = p.field(); !ok {
		return "", "", false
	}
	if value, ok = p.field(); !ok {
		return "", "", false
	}
	return key, value, true
}

// field reads a length and that many bytes.
func (p *PairReader) field() (string, bool) {
	var n uint64
	for shift, i := uint(0), 0; ; shift, i = shift+7, i+1 {
		if i >= len(p.s) || shift > 63 {
			p.s = ""
			return "", false
		}
		b := p.s[i]
		n |= uint64(b&0x7f) << shift
		if b < 0x80 {
			p.s = p.s[i+1:]
			break
		}
	}
	if n > uint64(len(p.s)) {
		p.s = ""
		return "", false
	}
	f := p.s[:n]
	p.s = p.s[n:]
	return f, true
}

// PairsValue is the value of key among the pairs r reads; "" if none.
func PairsValue(r PairReader, key string) string {
	for {
		k, v, ok := r.Next()
		if !ok || k == key {
			return v
		}
	}
}

// SelectsPairs is Selects(selector, labels) of labels in the pairs
// encoding, without their map: a non-empty selector each of whose pairs
// is among the labels (a missing label reads as the empty value, as in
// Selects).
func SelectsPairs(selector map[string]string, labels PairReader) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if PairsValue(labels, k) != v {
			return false
		}
	}
	return true
}

// PairsSelect is Selects(selector, labels) of a selector in the pairs
// encoding.
func PairsSelect(selector PairReader, labels map[string]string) bool {
	k, v, ok := selector.Next()
	if !ok {
		return false
	}
	for ; ok; k, v, ok = selector.Next() {
		if labels[k] != v {
			return false
		}
	}
	return true
}
