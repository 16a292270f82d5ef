package manifest

import (
	"bytes"
	"encoding/json"
	"math"
	"regexp"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// kubectl and helm read YAML with sigs.k8s.io/yaml, that is go-yaml v2's
// YAML 1.1 resolution followed by encoding/json: a plain `yes`, `on` or `y`
// is the boolean true, `0777` is the octal 511, `1e3` is the number 1000.
// resolvePlain is that resolution for the plain scalars of the fast path,
// written to follow go.yaml.in/yaml/v2's resolve.go step by step; the fast
// path's tests and fuzz target hold it to sigs.k8s.io/yaml.YAMLToJSON.

// plainKind is what a plain scalar resolves to.
type plainKind int

const (
	plainString plainKind = iota
	plainNull
	plainBool
	plainNumber
	// plainRefused are the scalars the fast path leaves to the slow one:
	// `<<` (a merge key) and the infinities and NaN, which JSON cannot hold
	// (sigs.k8s.io/yaml fails on them, and the slow path says how).
	plainRefused
)

// yaml11Words are go-yaml v2's resolveMap: the scalars resolved by name.
var yaml11Words = map[string]string{
	"y": "true", "Y": "true", "yes": "true", "Yes": "true", "YES": "true",
	"true": "true", "True": "true", "TRUE": "true",
	"on": "true", "On": "true", "ON": "true",
	"n": "false", "N": "false", "no": "false", "No": "false", "NO": "false",
	"false": "false", "False": "false", "FALSE": "false",
	"off": "false", "Off": "false", "OFF": "false",
	"~": "null", "null": "null", "Null": "null", "NULL": "null",
}

// yaml11Float is go-yaml v2's yamlStyleFloat.
var yaml11Float = regexp.MustCompile(`^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`)

// resolvePlain resolves a plain scalar as go-yaml v2 does and appends its
// JSON to out, as encoding/json writes the resolved value; for a string it
// appends nothing (the caller writes it).
func resolvePlain(out []byte, v string) ([]byte, plainKind) {
	if v == "" {
		return append(out, "null"...), plainNull
	}
	switch c := v[0]; {
	case c == 'y' || c == 'Y' || c == 'n' || c == 'N' || c == 't' || c == 'T' || c == 'f' || c == 'F' || c == 'o' || c == 'O' || c == '~':
		switch w := yaml11Words[v]; w {
		case "":
			return out, plainString
		case "null":
			return append(out, w...), plainNull
		default:
			return append(out, w...), plainBool
		}
	case c == '.':
		switch v {
		case ".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF":
			return out, plainRefused
		}
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			return appendFloat(out, f), plainNumber
		}
		return out, plainString
	case c == '+' || c == '-' || '0' <= c && c <= '9':
		switch v {
		case "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF":
			return out, plainRefused
		}
		if !numberBytes(v) {
			// A quantity (`250m`, `512Mi`): no parse below can take it,
			// and each failing one allocates its error.
			return out, plainString
		}
		// A timestamp (`2001-12-14`) stays a string when decoded into
		// interface{}, and no timestamp parses as a number below.
		plain := strings.ReplaceAll(v, "_", "")
		if i, err := strconv.ParseInt(plain, 0, 64); err == nil {
			return strconv.AppendInt(out, i, 10), plainNumber
		}
		if u, err := strconv.ParseUint(plain, 0, 64); err == nil {
			return strconv.AppendUint(out, u, 10), plainNumber
		}
		if yaml11Float.MatchString(plain) {
			if f, err := strconv.ParseFloat(plain, 64); err == nil {
				return appendFloat(out, f), plainNumber
			}
		}
		if strings.HasPrefix(plain, "0b") {
			if i, err := strconv.ParseInt(plain[2:], 2, 64); err == nil {
				return strconv.AppendInt(out, i, 10), plainNumber
			}
			if u, err := strconv.ParseUint(plain[2:], 2, 64); err == nil {
				return strconv.AppendUint(out, u, 10), plainNumber
			}
		} else if strings.HasPrefix(plain, "-0b") {
			if i, err := strconv.ParseInt("-"+plain[3:], 2, 64); err == nil {
				return strconv.AppendInt(out, i, 10), plainNumber
			}
		}
		return out, plainString
	case c == '<' && v == "<<":
		return out, plainRefused
	}
	return out, plainString
}

// appendFloat writes f as encoding/json writes a float64 (its floatEncoder).
func appendFloat(out []byte, f float64) []byte {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		// Unreachable from resolvePlain (ParseFloat fails on overflow), but
		// JSON has no spelling for them.
		return append(out, "null"...)
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	out = strconv.AppendFloat(out, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9
		if n := len(out); n >= 4 && out[n-4] == 'e' && out[n-3] == '-' && out[n-2] == '0' {
			out[n-2] = out[n-1]
			out = out[:n-1]
		}
	}
	return out
}

// writeString writes s as a JSON string, byte for byte as json.Marshal
// does. Most strings of a manifest are printable ASCII that json.Marshal
// leaves alone: those are written as they are, without its allocations;
// others go through it (escapes, HTML characters, invalid UTF-8).
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

// numberBytes reports whether v has only bytes that the number parses of
// resolvePlain accept: digits, hexadecimal digits, the base prefixes'
// letters, signs, a point, underscores. A string with any other byte is
// no number.
func numberBytes(v string) bool {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f', 'A' <= c && c <= 'F':
		case c == 'x' || c == 'X' || c == 'o' || c == 'O' || c == '_' || c == '+' || c == '-' || c == '.':
		default:
			return false
		}
	}
	return true
}
