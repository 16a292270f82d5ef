package report

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/headless-guard/headless-guard/rules"
)

// Format is one output format of `check --output`. To add one, write its
// renderer (a file of this package, like sarif.go) and add a row to
// formats: Write, the --output flag and its help text follow.
type Format struct {
	// Name is the value of --output.
	Name string
	// NeedsRoot is set for the formats whose paths are relative to
	// Report.Root (the repository root), which the caller must then set.
	NeedsRoot bool
	render    func(*bytes.Buffer, *Report) error
}

// formats is the one table of output formats, in the order the CLI lists
// them.
var formats = []Format{
	{Name: "text", render: renderText},
	{Name: "json", render: renderJSON},
	{Name: "sarif", render: renderSARIF, NeedsRoot: true},
	{Name: "junit", render: renderJUnit},
	// GitHub Actions workflow commands.
	{Name: "github", render: renderGitHub, NeedsRoot: true},
}

// Formats are the names of the output formats Write accepts, in the order
// the CLI lists them.
var Formats = func() []string {
	names := make([]string, len(formats))
	for i, f := range formats {
		names[i] = f.Name
	}
	return names
}()

// FormatOf returns the output format of that name (in any case, spaces
// around it ignored).
func FormatOf(name string) (Format, bool) {
	name = strings.ToLower(strings.TrimSpace(name))
	for _, f := range formats {
		if f.Name == name {
			return f, true
		}
	}
	return Format{}, false
}

// Write renders r to w in the named format (Formats).
//
// The whole document is rendered before anything is written, so a report that
// cannot be rendered leaves w untouched instead of holding half a JSON object.
func Write(w io.Writer, format string, r *Report) error {
	f, ok := FormatOf(format)
	if !ok {
		return fmt.Errorf("unknown output format %q: must be one of %s", format, strings.Join(Formats, ", "))
	}
	if err := validate(r); err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := f.render(&buf, r); err != nil {
		return err
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// WriteText renders r as human-readable text; see Write.
func WriteText(w io.Writer, r *Report) error { return Write(w, "text", r) }

// WriteJSON renders r as one JSON object; see Write.
func WriteJSON(w io.Writer, r *Report) error { return Write(w, "json", r) }

// WriteSARIF renders r as a SARIF 2.1.0 log; see Write.
func WriteSARIF(w io.Writer, r *Report) error { return Write(w, "sarif", r) }

// WriteJUnit renders r as JUnit XML; see Write.
func WriteJUnit(w io.Writer, r *Report) error { return Write(w, "junit", r) }

// validate rejects reports that every renderer would otherwise have to guard
// against field by field: a finding without its rule or field error is a bug in
// the caller, and saying so beats a nil dereference halfway through the output.
func validate(r *Report) error {
	if r == nil {
		return fmt.Errorf("report: nil report")
	}
	for i, f := range r.Findings {
		switch {
		case f.Rule == nil:
			return fmt.Errorf("report: finding %d (%s) has no rule", i, f.Object)
		case f.Error == nil:
			return fmt.Errorf("report: finding %d (%s %s) has no field error", i, f.Rule.ID, f.Object)
		}
	}
	return nil
}

// ClusterPrefix starts the location of an object read from a live cluster
// (`check --cluster`): `cluster:<namespace>/<kind>/<name>`, no line.
const ClusterPrefix = "cluster:"

// isCluster reports whether file names an object of the live cluster.
func isCluster(file string) bool { return strings.HasPrefix(file, ClusterPrefix) }

// isStdin reports whether file names standard input; the loader spells it "-"
// (as typed on the command line) or "<stdin>".
func isStdin(file string) bool { return file == "-" || file == "<stdin>" }

// displayFile is the file name shown to people (text, JSON, JUnit): "-" alone
// on a line of output reads like a typo, so standard input is "<stdin>".
func displayFile(file string) string {
	if isStdin(file) {
		return "<stdin>"
	}
	return file
}

// position is "file:line", or just "file" when the line is unknown, the form
// editors and CI log viewers turn into links.
func position(l Location) string {
	if l.Line <= 0 {
		return displayFile(l.File)
	}
	return fmt.Sprintf("%s:%d", displayFile(l.File), l.Line)
}

// fixLine is the remediation with its docs link, as shown under a finding.
func fixLine(rule *rules.Rule) string {
	return fmt.Sprintf("fix: %s (%s)", rule.Remediation, rule.DocsURL())
}

// findingLine is the one-line form of a finding without its position:
// `deny HG002 service-exists: StatefulSet default/web: spec.serviceName: Not found: "nginx": must …`.
// The field error is printed with its own Error method because that is how
// kubectl prints the causes of a denied request, so users see the same text in
// CI and at admission.
func findingLine(f Finding) string {
	line := fmt.Sprintf("%s %s %s: %s: %s", f.Action, f.Rule.ID, f.Rule.Name, f.Object, f.Error.Error())
	if f.Reason != "" {
		// The policy made a denial a warning: say why, as admission does.
		line += " (a warning, not a denial: " + f.Reason + ")"
	}
	return line
}

// badValue renders a field error's BadValue as a string; ok is false when the
// error carries no value (nil, or field.OmitValue) or is of a type whose value
// kubectl does not print: field.Required stores "" as its value, and showing
// `"value": ""` for a missing field would read as "set to the empty string".
func badValue(e *field.Error) (s string, ok bool) {
	switch e.Type {
	case field.ErrorTypeRequired, field.ErrorTypeForbidden, field.ErrorTypeTooLong,
		field.ErrorTypeTooShort, field.ErrorTypeInternal:
		return "", false
	}
	switch v := e.BadValue.(type) {
	case nil, field.OmitValueType:
		return "", false
	case string:
		return v, true
	case fmt.Stringer:
		return v.String(), true
	default:
		// ErrorBody already knows how Kubernetes renders every other kind of
		// value (JSON for composites); reuse it instead of drifting from it.
		body := (&field.Error{Type: field.ErrorTypeInvalid, BadValue: v}).ErrorBody()
		return strings.TrimPrefix(body, field.ErrorTypeInvalid.String()+": "), true
	}
}
