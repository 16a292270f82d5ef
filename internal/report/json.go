package report

import (
	"bytes"
	"encoding/json"

	"github.com/headless-guard/headless-guard/rules"
)

// jsonReport is the document `check --output json` prints. Its keys are a
// public interface for scripts, so they are spelled out here rather than
// derived from the Go types that happen to hold the data.
type jsonReport struct {
	Findings []jsonFinding `json:"findings"`
	Notices  []jsonNotice  `json:"notices"`
	// SkippedFiles are the input files that are not manifests.
	SkippedFiles []jsonSkipped `json:"skippedFiles"`
	Summary      Summary       `json:"summary"`
}

// jsonSkipped is a file left out of the check, and why.
type jsonSkipped struct {
	File   string `json:"file"`
	Reason string `json:"reason"`
}

// jsonNotice is one notice in the JSON output.
type jsonNotice struct {
	Reason   string `json:"reason"`
	Severity string `json:"severity"`
	// Object is omitted for a notice about no object.
	Object  *rules.ObjectRef `json:"object,omitempty"`
	Field   string           `json:"field,omitempty"`
	Message string           `json:"message"`
	File    string           `json:"file"`
	Line    int              `json:"line"`
	// Related are the other places the message names.
	Related []jsonLocation `json:"related"`
}

type jsonLocation struct {
	File string `json:"file"`
	Line int    `json:"line"`
}

// jsonFinding is one finding in the JSON output.
type jsonFinding struct {
	Rule     string          `json:"rule"`
	Name     string          `json:"name"`
	Severity rules.Action    `json:"severity"`
	Object   rules.ObjectRef `json:"object"`
	Field    string          `json:"field"`
	// Type is the field error type ("FieldValueNotFound"), the same string the
	// API server puts in status.details.causes[].reason.
	Type string `json:"type"`
	// Value is a pointer so that an empty string value ("serviceName: \"\"")
	// stays distinguishable from no value at all.
	Value       *string `json:"value,omitempty"`
	Message     string  `json:"message"`
	Remediation string  `json:"remediation"`
	// WarnBecause says why the policy made a finding of a denying rule a
	// warning (e.g. nothing in the pod template uses the per-pod names);
	// omitted when it did not.
	WarnBecause string `json:"warnBecause,omitempty"`
	DocsURL     string `json:"docsUrl"`
	File        string `json:"file"`
	// Line is 1-based; 0 when unknown, kept rather than omitted so every
	// finding has the same keys.
	Line int `json:"line"`
}

// renderJSON writes exactly one JSON object, indented two spaces, with a
// trailing newline.
func renderJSON(buf *bytes.Buffer, r *Report) error {
	// A non-nil empty slice: consumers iterate over "findings" and must get
	// [] on a clean run, not null.
	out := jsonReport{Findings: make([]jsonFinding, 0, len(r.Findings)), Summary: r.Summarize()}
	for _, f := range r.Findings {
		jf := jsonFinding{
			Rule:        f.Rule.ID,
			Name:        f.Rule.Name,
			Severity:    f.Action,
			Object:      f.Object,
			Field:       f.Error.Field,
			Type:        string(f.Error.Type),
			Message:     f.Error.Detail,
			Remediation: f.Rule.Remediation,
			WarnBecause: f.Reason,
			DocsURL:     f.Rule.DocsURL(),
			File:        displayFile(f.File),
			Line:        f.Line,
		}
		if v, ok := badValue(f.Error); ok {
			jf.Value = &v
		}
		out.Findings = append(out.Findings, jf)
	}
	out.Notices = make([]jsonNotice, 0, len(r.Notices))
	for _, n := range r.Notices {
		jn := jsonNotice{Reason: n.Reason, Severity: string(rules.ActionWarn), Field: n.Field, Message: n.Message,
			File: displayFile(n.File), Line: n.Line, Related: make([]jsonLocation, 0, len(n.Related))}
		if n.Object != (rules.ObjectRef{}) {
			obj := n.Object
			jn.Object = &obj
		}
		for _, l := range n.Related {
			jn.Related = append(jn.Related, jsonLocation{File: displayFile(l.File), Line: l.Line})
		}
		out.Notices = append(out.Notices, jn)
	}
	out.SkippedFiles = make([]jsonSkipped, 0, len(r.Skipped))
	for _, sk := range r.Skipped {
		out.SkippedFiles = append(out.SkippedFiles, jsonSkipped{File: displayFile(sk.File), Reason: sk.Reason})
	}
	enc := json.NewEncoder(buf)
	// Messages quote fields and placeholders such as `<name>-<ordinal>`;
	// HTML-escaping them to \u003c helps no JSON consumer and hurts every reader.
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
