package report

import (
	"bytes"
	"fmt"
)

// renderText writes one block per finding, in report order, then a summary:
//
//	manifests/web.yaml:12: deny HG002 service-exists: StatefulSet default/web: spec.serviceName: Not found: "nginx": must …
//	  fix: Create a headless Service … (https://…/docs/rules.md#hg002)
//	2 objects checked: 1 deny, 1 warn, 0 skipped
func renderText(buf *bytes.Buffer, r *Report) error {
	for _, f := range r.Findings {
		fmt.Fprintf(buf, "%s: %s\n", position(f.Location), findingLine(f))
		fmt.Fprintf(buf, "  %s\n", fixLine(f.Rule))
	}
	s := r.Summarize()
	checked := plural(s.Objects, "object", "objects") + " checked"
	// A clean run with nothing skipped gets a line that reads as an all-clear;
	// once a rule was skipped the counts matter even without findings, because
	// a skip is a decision someone should be able to see in the CI log.
	if s.Deny == 0 && s.Warn == 0 && s.Skipped == 0 {
		fmt.Fprintf(buf, "%s: no findings\n", checked)
		return nil
	}
	fmt.Fprintf(buf, "%s: %d deny, %d warn, %d skipped\n", checked, s.Deny, s.Warn, s.Skipped)
	return nil
}

// plural formats n with the singular or plural noun.
func plural(n int, singular, pluralForm string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, singular)
	}
	return fmt.Sprintf("%d %s", n, pluralForm)
}
