package report

import (
	"bytes"
	"fmt"
)

// renderText writes a line per notice, then one block per finding, in
// report order, then a summary:
//
//	manifests/db.yaml:3: warn duplicate-object: Service default/db: defined again at manifests/all.yaml:40, …
//	manifests/web.yaml:12: deny HG002 service-exists: StatefulSet default/web: spec.serviceName: Not found: "nginx": must …
//	  fix: Create a headless Service … (https://…/docs/rules.md#hg002)
//	2 objects checked: 1 deny, 1 warn, 0 skipped, 1 notice
func renderText(buf *bytes.Buffer, r *Report) error {
	// What was not read, then notices: they say how the input was read,
	// which the findings below rest on.
	for _, sk := range r.Skipped {
		fmt.Fprintf(buf, "%s: skipped: %s\n", position(sk.Location), sk.Reason)
	}
	for _, n := range r.Notices {
		fmt.Fprintf(buf, "%s: %s\n", position(n.Location), noticeLine(n))
	}
	for _, f := range r.Findings {
		fmt.Fprintf(buf, "%s: %s\n", position(f.Location), findingLine(f))
		fmt.Fprintf(buf, "  %s\n", fixLine(f.Rule))
	}
	s := r.Summarize()
	checked := plural(s.Objects, "object", "objects") + " checked"
	// A clean run with nothing skipped gets a line that reads as an all-clear;
	// once a rule was skipped the counts matter even without findings, because
	// a skip is a decision someone should be able to see in the CI log.
	if s.Deny == 0 && s.Warn == 0 && s.Skipped == 0 && s.Notices == 0 {
		skipped := ""
		if s.SkippedFiles > 0 {
			skipped = " (" + plural(s.SkippedFiles, "file", "files") + " skipped)"
		}
		fmt.Fprintf(buf, "%s: no findings%s\n", checked, skipped)
		return nil
	}
	fmt.Fprintf(buf, "%s: %s\n", checked, counts(s))
	return nil
}

// counts is the summary's tally: `1 deny, 1 warn, 2 objects skip rules, 1 notice`.
func counts(s Summary) string {
	out := fmt.Sprintf("%d deny, %d warn", s.Deny, s.Warn)
	if s.Skipped > 0 {
		verb := " skip rules"
		if s.Skipped == 1 {
			verb = " skips rules"
		}
		out += ", " + plural(s.Skipped, "object", "objects") + verb
	}
	if s.Notices > 0 {
		out += ", " + plural(s.Notices, "notice", "notices")
	}
	if s.SkippedFiles > 0 {
		out += ", " + plural(s.SkippedFiles, "file", "files") + " skipped"
	}
	return out
}

// plural formats n with the singular or plural noun.
func plural(n int, singular, pluralForm string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, singular)
	}
	return fmt.Sprintf("%d %s", n, pluralForm)
}
