package main

// The rule reference (docs/rules.md), rendered from the registry so that the
// documentation cannot drift from the code; TestRulesDocUpToDate fails when
// docs/rules.md is stale.

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/headless-guard/headless-guard/rules"
)

// rulesMarkdown renders the rule reference for reg.
func rulesMarkdown(reg *rules.Registry) []byte {
	var b bytes.Buffer
	b.WriteString("<!-- Generated from the rule registry by `make docs`; do not edit. -->\n")
	b.WriteString("# headless-guard rules\n\n")
	b.WriteString("Every rule runs in the admission webhook and in `headless-guard check` alike. ")
	b.WriteString("Change a rule's action with `--rule ID=deny|warn|off`; opt one object out with the annotation ")
	b.WriteString("`" + rules.SkipAnnotation + ": \"HG004,HG006\"` (or `\"all\"`).\n\n")
	b.WriteString("A rule's action (the `default` column) is deny exactly when, broken, it costs the pods their per-pod DNS names ")
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
	b.WriteString(policiesText)
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
		if r.Certainty != "" {
			fmt.Fprintf(&b, "- **Certain (denies in the default policy) when:** %s\n", r.Certainty)
		}
		b.WriteString("- **What DNS answers when it is broken:**\n")
		for _, c := range r.DNS {
			fmt.Fprintf(&b, "  - %s: %s\n", c.Case, c.Loss)
		}
		fmt.Fprintf(&b, "\n**Why.** %s\n\n**How to fix.** %s\n", r.Why, r.Remediation)
		decisionTable(&b, r)
	}
	return b.Bytes()
}

// decisionTable prints what admission decides for a finding of r, per
// policy, author, operation and dry-run, as rules.Policy.Decide answers
// (with the rule at its default action, enforce mode).
func decisionTable(b *bytes.Buffer, r *rules.Rule) {
	type column struct {
		op     rules.Operation
		dryRun bool
	}
	var cols []column
	for _, op := range r.Operations {
		cols = append(cols, column{op, false}, column{op, true})
	}
	b.WriteString("\n**Decisions** (at the rule's default action; on UPDATE, for a defect the stored object did not have):\n\n| policy | author |")
	for _, c := range cols {
		if c.dryRun {
			fmt.Fprintf(b, " %s dry-run |", c.op)
		} else {
			fmt.Fprintf(b, " %s |", c.op)
		}
	}
	b.WriteString("\n|---|---|" + strings.Repeat("---|", len(cols)) + "\n")
	kind := r.Kinds[0]
	for _, level := range []rules.Level{rules.LevelDefault, rules.LevelStrict} {
		for _, owned := range []bool{false, true} {
			author := "person"
			if owned {
				author = "controller"
			}
			fmt.Fprintf(b, "| %s | %s |", level, author)
			policy := &rules.Policy{Level: level}
			for _, c := range cols {
				d := rules.Decision{Kind: kind, Operation: c.op, DryRun: c.dryRun, ControllerOwned: owned}
				certain, _ := policy.Decide(r, d)
				d.Uncertain = true
				uncertain, _ := policy.Decide(r, d)
				cell := string(certain)
				if r.Certainty != "" && certain != uncertain {
					cell = fmt.Sprintf("%s if certain, else %s", certain, uncertain)
				}
				fmt.Fprintf(b, " %s |", cell)
			}
			b.WriteString("\n")
		}
	}
	if slices.Contains(r.Kinds, rules.KindService) && slices.Contains(r.Operations, rules.Create) {
		d := rules.Decision{Kind: rules.KindService, Operation: rules.Create}
		action, _ := (&rules.Policy{Level: rules.LevelStrict}).Decide(r, d)
		fmt.Fprintf(b, "\nReported from the Service's side, a Service CREATE is a %s in either policy: a Service is never denied for someone else's StatefulSet.\n", action)
	}
}

// policiesText explains the policies and the open choices.
const policiesText = `
## Policies: what admission denies

**Deny only a mistake that is certain from what admission can see and that the requester can fix;
report everything else, and follow it up.** Two policies, chosen with ` + "`--policy`" + ` (webhook and
` + "`check`" + `) or per namespace with the label ` + "`headless-guard.io/policy=default|strict`" + `:

- **default**: denies a ` + "`serviceName`" + ` typo next to the right Service, a headless Service whose selector
  misses the pods, names too long for pods to exist, and a missing or non-headless governing Service
  when the pod template's configuration uses the per-pod names. Everything else is a warning that
  says why it was admitted, and the audit reports it if it is still wrong after a grace period.
- **strict**: the letter of the catalogue: every finding of a rule whose action is deny denies,
  whether or not anything uses the names.

In either policy, objects with a ` + "`controller: true`" + ` ownerReference are reported, not denied
(` + "`--controller-owned=enforce`" + ` or the namespace label ` + "`headless-guard.io/controller-owned=enforce`" + `
treats them as anyone's), a Service CREATE is never denied, dry-run HG002 is a warning
(` + "`--dry-run-missing-service=deny`" + `), and on UPDATE a defect the stored object already had is a warning.
` + "`--mode warn`" + ` (or ` + "`headless-guard.io/mode=warn`" + `) turns every denial into a warning.

### Why these choices (the SRE reading the warning at 3 a.m.)

- **Evidence of use is what makes a missing name certain.** A pod template whose env values, args,
  command or referenced ConfigMaps contain ` + "`<statefulset>-<n>.<service>[.<namespace>[.svc[.<domain>]]]`" + `
  looks those names up: without them the software cannot form its cluster, and the denial names the
  value that proves it. Without such evidence, charts and operators that never resolve a pod by name
  (a ClusterIP or memberlist Service, a Service created a moment after the StatefulSet) work; denying
  them breaks an install that would have run. The warning names the rule, the reason it was
  admitted and that the audit follows it up, so it is neither a page nor forgotten.
- **A typo is certain when the right Service is next to it.** The right Service under another name
  is a headless Service that selects the pod template, that no StatefulSet names yet, and whose name
  is a near miss: at most two single-character edits away (insertion, deletion, substitution, or two
  neighbours swapped: ` + "`nginx-headles`" + `, ` + "`ngnix-headless`" + `), both names of at least four characters
  (two short names are always close), differing in more than digits (` + "`zk-1-hs`" + ` next to ` + "`zk-0-hs`" + ` is
  another shard's Service); or one name is the other with one dash-separated part added at the end
  (` + "`nginx`" + ` for ` + "`nginx-headless`" + `, a forgotten suffix). Exactly one Service may be that close. Two edits
  catch the typos people make; more would match other teams' Services in a busy namespace. A Service
  that does not select the pods is not the right one even under a close name, and a headless Service
  that selects them under an unrelated name (` + "`tempo-ingester-discovery`" + ` for ` + "`ingester`" + `, a memberlist
  Service) is named in the warning, not taken for a typo: charts govern StatefulSets that way on
  purpose, and a false denial at 3 a.m. costs more than a warning. Candidates come from the selector
  index (one bucket of it per pod label, each about a thousandth of the cluster's Services), so
  the search costs about the same in a namespace of ten Services or ten thousand.
- **A controller cannot read a denial.** It retries with backoff, forever, and the resource its user
  created never comes up; a warning, an Event on the StatefulSet and on its owner, and the metric
  reach someone who can act.
- **A Service's author may not own the StatefulSet that names it.** Denying the Service would let one
  team's StatefulSet veto another team's Service.
- **Reading ConfigMaps costs a request.** At admission the referenced ConfigMaps (at most 8, 1 MiB in
  all) are read live only when the verdict depends on them: a person's CREATE that would otherwise
  be a warning. A ConfigMap that cannot be read is no evidence, and the warning says it was not read.
`
