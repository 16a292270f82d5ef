// Package report renders the findings of the offline checker as text, JSON,
// SARIF 2.1.0, JUnit XML or GitHub Actions annotations. The formats are one
// table (format.go): a new output format is a renderer in a file of its own
// here (like sarif.go) and a row of that table, which the --output flag
// and its help text follow; report_test.go and testdata/ hold its goldens.
package report

import (
	"github.com/headless-guard/headless-guard/rules"
)

// Location is where an object or a finding is in the input.
type Location struct {
	// File is the path as given on the command line ("-" or "<stdin>" for standard input).
	File string
	// Line is 1-based; 0 when unknown.
	Line int
}

// Finding is a rule finding with its place in the input.
type Finding struct {
	rules.Finding
	Location
}

// Object is one object the checker evaluated; JUnit reports one test case each.
type Object struct {
	Ref rules.ObjectRef
	Location
	// Skipped are the rule IDs the object opted out of with headless-guard.io/skip.
	Skipped []string
}

// Report is everything a run of `headless-guard check` found.
type Report struct {
	// Findings in input order (file, then line), then catalogue order.
	Findings []Finding
	// Objects evaluated, in input order.
	Objects []Object
	// Notices are what no rule reports: keys and objects defined twice,
	// objects not evaluated; in input order.
	Notices []Notice
	// Skipped are the input files that are not manifests (values files, a
	// Chart.yaml, a chart's templates), left out with a note each.
	Skipped []Skipped
	// Root is the absolute directory (the repository root) that SARIF and
	// GitHub locations are relative to; "" leaves the paths as given.
	Root string
	// Files and Documents count the input read.
	Files, Documents int
	// Registry is the rule set used, for rule metadata (SARIF rules, help).
	Registry *rules.Registry
}

// Skipped is an input file that is not a manifest, and why.
type Skipped struct {
	Location
	Reason string
}

// Summary counts a report's findings.
type Summary struct {
	Files     int `json:"files"`
	Documents int `json:"documents"`
	Objects   int `json:"objects"`
	Deny      int `json:"deny"`
	Warn      int `json:"warn"`
	// Skipped counts the objects that opt out of at least one rule
	// (headless-guard.io/skip), not the rules they skip.
	Skipped int `json:"skipped"`
	// SkippedFiles counts Report.Skipped.
	SkippedFiles int `json:"skippedFiles"`
	// Notices count Report.Notices: warnings about the input, which do not
	// change the exit status.
	Notices int `json:"notices"`
}

// Summarize counts the findings of r.
func (r *Report) Summarize() Summary {
	s := Summary{Files: r.Files, Documents: r.Documents, Objects: len(r.Objects), Notices: len(r.Notices), SkippedFiles: len(r.Skipped)}
	for _, f := range r.Findings {
		switch f.Action {
		case rules.ActionDeny:
			s.Deny++
		case rules.ActionWarn:
			s.Warn++
		}
	}
	for _, o := range r.Objects {
		if len(o.Skipped) > 0 {
			s.Skipped++
		}
	}
	return s
}
