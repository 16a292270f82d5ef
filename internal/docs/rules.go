// Package docs generates the rule reference (docs/rules.md) from the registry,
// so the documentation cannot drift from the code.
package docs

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/headless-guard/headless-guard/rules"
)

// RulesMarkdown renders the rule reference for reg.
func RulesMarkdown(reg *rules.Registry) []byte {
	var b bytes.Buffer
	b.WriteString("<!-- Generated from the rule registry by `make docs`; do not edit. -->\n")
	b.WriteString("# headless-guard rules\n\n")
	b.WriteString("Every rule runs in the admission webhook and in `headless-guard check` alike. ")
	b.WriteString("Change a rule's action with `--rule ID=deny|warn|off`; opt one object out with the annotation ")
	b.WriteString("`" + rules.SkipAnnotation + ": \"HG004,HG006\"` (or `\"all\"`).\n\n")
	b.WriteString("A rule denies by default exactly when, broken, it costs the pods their per-pod DNS names ")
	b.WriteString("(or the pods themselves); where only SRV records or port metadata suffer, it warns. ")
	b.WriteString("\"What DNS answers\" is what CoreDNS answers for the pods when the rule is broken; ")
	b.WriteString("the end-to-end tests (`make e2e`) break each rule in a real cluster (kube-controller-manager, ")
	b.WriteString("EndpointSlices, CoreDNS) and fail when CoreDNS answers otherwise. ")
	b.WriteString("The few rules that warn although names break say why under **Why**.\n\n")
	b.WriteString("| ID | name | objects | default | what DNS answers | fix |\n|---|---|---|---|---|---|\n")
	for _, r := range reg.Rules() {
		fix := r.Fix
		if fix == "" {
			fix = "—"
		} else {
			fix = "`" + fix + "`"
		}
		fmt.Fprintf(&b, "| [%s](#%s) | `%s` | %s | %s | %s | %s |\n", r.ID, r.Anchor(), r.Name, strings.Join(r.Kinds, ", "), r.Default, r.WorstDNSLoss(), fix)
	}
	for _, r := range reg.Rules() {
		fmt.Fprintf(&b, "\n<a id=\"%s\"></a>\n## %s %s\n\n", r.Anchor(), r.ID, r.Name)
		fmt.Fprintf(&b, "%s\n\n", r.Summary)
		fmt.Fprintf(&b, "- **Objects:** %s\n", strings.Join(r.Kinds, ", "))
		ops := make([]string, len(r.Operations))
		for i, op := range r.Operations {
			ops[i] = string(op)
		}
		fmt.Fprintf(&b, "- **Operations:** %s\n", strings.Join(ops, ", "))
		fmt.Fprintf(&b, "- **Default action:** %s", r.Default)
		if r.DryRunWarn {
			b.WriteString(" (warn on dry-run requests)")
		}
		b.WriteString("\n")
		if r.Fix != "" {
			fmt.Fprintf(&b, "- **Fix:** `%s`\n", r.Fix)
		}
		b.WriteString("- **What DNS answers when it is broken:**\n")
		for _, c := range r.DNS {
			fmt.Fprintf(&b, "  - %s: %s\n", c.Case, c.Loss)
		}
		fmt.Fprintf(&b, "\n**Why.** %s\n\n**How to fix.** %s\n", r.Why, r.Remediation)
	}
	return b.Bytes()
}
