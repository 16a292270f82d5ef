package rules

import (
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var hg002ServiceExists = &Rule{
	ID:          HG002,
	Name:        "service-exists",
	Summary:     "The Service named by a StatefulSet's `spec.serviceName` exists in its namespace.",
	Why:         "Kubernetes accepts a StatefulSet whose governing Service is missing; its pods then have no DNS names, and nothing says so. Admission sees objects in the order they are created: `kubectl apply -f` of one file creates its documents in file order, and operators often create a StatefulSet before its Service, so a missing Service may be a moment away. In the default policy this denies only what is certain: a headless Service that selects the pods under a near-miss name (a typo), or the pod template's configuration uses the per-pod names; otherwise it warns and the audit follows it up. A server-side dry-run of a multi-object apply does not persist the Service it would create (kubernetes #83562), so on dry-run this is a warning unless `--dry-run-missing-service=deny`.",
	Remediation: "Create a headless Service (`clusterIP: None`) with that name that selects the pod template labels before the StatefulSet (with `kubectl apply -f`, put the Service first in the file, or use `--inject`), or point `spec.serviceName` at the existing one.",
	Kinds:       []string{KindStatefulSet},
	Operations:  []Operation{Create, Update},
	Default:     ActionDeny,
	Certainty:   "a headless Service that selects the pods and that no StatefulSet names yet is a typo away from `spec.serviceName` (at most two edits, or one dash-separated part added or dropped at the end), or the pod template's configuration uses the per-pod names",
	DNS: []DNSCase{
		{Case: "`spec.serviceName` names no Service", Loss: LosesPodAddresses | LosesHostnames | LosesSRV},
	},
	DryRunWarn: true,
	Fix:        FixInjectService,
	Check: func(c *Context) []Problem {
		sts, svc := governingService(c)
		if sts == nil || sts.Spec.ServiceName == "" || svc != nil || c.err != nil {
			return nil
		}
		err := field.NotFound(serviceNamePath, sts.Spec.ServiceName)
		err.Detail = fmt.Sprintf("must name an existing Service in namespace `%s`", sts.Namespace)
		alt := headlessServicesSelecting(c, statefulSetWorkload(sts))
		if c.Request.DryRun {
			// A server-side dry-run of a multi-object apply creates nothing,
			// so a Service of the same apply is missing here too: say which
			// reading is which, never just "create it first".
			if len(alt) > 0 {
				err.Detail += fmt.Sprintf(": did you mean %s (a headless Service that selects these pods); if Service `%s` is part of this apply, ignore this: a server-side dry-run does not create the objects it checks (kubernetes #83562)", strings.Join(alt, " or "), sts.Spec.ServiceName)
			} else {
				err.Detail += fmt.Sprintf(": if Service `%s` is part of this apply, ignore this: a server-side dry-run does not create the objects it checks (kubernetes #83562); otherwise create a headless Service `%s` (`clusterIP: None`) selecting %s", sts.Spec.ServiceName, sts.Spec.ServiceName, formatLabels(sts.Spec.Template.Labels, sortedKeys(sts.Spec.Template.Labels)))
			}
			return []Problem{{Error: err, InjectReplaces: true}}
		}
		// The right Service under a name next to this one is a typo,
		// certain from what admission sees.
		if typo := typoOf(c, sts, alt); typo != "" {
			err.Detail += fmt.Sprintf(": headless Service `%s` selects these pods; set `spec.serviceName: %s`", typo, typo)
			return []Problem{{Error: err, InjectReplaces: true}}
		}
		create := fmt.Sprintf("create a headless Service `%s` (`clusterIP: None`) selecting %s", sts.Spec.ServiceName, formatLabels(sts.Spec.Template.Labels, sortedKeys(sts.Spec.Template.Labels)))
		p, reason, used := c.evidence(sts)
		if !used {
			// Nothing shows that anyone looks the names up, and the Service
			// may be a moment away (a file with the StatefulSet first, an
			// operator that creates it next): report, and let the audit
			// follow it up. A headless Service that selects the pods under
			// an unrelated name (a discovery or memberlist Service) is
			// named as a hint, not taken for a typo.
			if len(alt) > 0 {
				err.Detail += fmt.Sprintf(": headless Service %s selects these pods (set `spec.serviceName: %s` for per-pod names through it), or %s", strings.Join(alt, ", "), strings.Trim(alt[0], "`"), create)
			} else {
				err.Detail += ": " + create
			}
			err.Detail += "; until it exists the pods have no per-pod DNS names"
			return []Problem{{Error: err, Uncertain: true, Reason: reason, InjectReplaces: true}}
		}
		err.Detail += fmt.Sprintf(": the pod template uses the per-pod name `%s` (%s), which cannot resolve without it; %s first (`kubectl apply -f` creates a file's objects in order, so put the Service before the StatefulSet), or use `--inject`", cut(p.Name, 120), p.Source.What, create)
		return []Problem{{Error: err, InjectReplaces: true}}
	},
}

// nearMissMaxDistance is how many single-character edits (insertion,
// deletion, substitution, transposition of neighbours) a misspelt
// `serviceName` may be away from the Service meant. Two catch the typos
// people make (`nginx-headles`, `ngnix-headless`, `-hedless`), and the
// conditions of typoOf keep it from calling another team's
// Service or another shard's a typo.
const nearMissMaxDistance = 2

// typoOf returns the headless Service that `spec.serviceName` is a typo
// of, and whether it selects the pods, or "" when there is none or more
// than one. The right Service under another name selects the pods (alt,
// quoted, found through the selector index: no namespace scan), governs
// no StatefulSet yet (one that does is someone's right Service), and has
// a name next to this one:
//   - at most nearMissMaxDistance edits away, both names of at least 4
//     characters (two short names are always close), differing in more
//     than digits (`zk-1-hs` beside `zk-0-hs` is another shard's Service,
//     not a typo); or
//   - one name is the other with one dash-separated part added at the end
//     (`nginx` for `nginx-headless`, a forgotten suffix).
//
// A headless Service that selects the pods under an unrelated name (a
// discovery or memberlist Service) is no typo: many charts govern their
// StatefulSets otherwise on purpose.
func typoOf(c *Context, sts *appsv1.StatefulSet, alt []string) string {
	want := sts.Spec.ServiceName
	var found []string
	for _, a := range alt {
		name := strings.Trim(a, "`")
		d := len(name) - len(want)
		near := d <= nearMissMaxDistance && -d <= nearMissMaxDistance && len(want) >= 4 && len(name) >= 4 &&
			editDistance(name, want, nearMissMaxDistance) <= nearMissMaxDistance && !sameButDigits(name, want)
		if !near && !oneMorePart(name, want) && !oneMorePart(want, name) {
			continue
		}
		if len(c.StatefulSetsFor(sts.Namespace, name)) > 0 {
			continue
		}
		found = append(found, name)
	}
	if len(found) != 1 {
		return ""
	}
	return found[0]
}

// oneMorePart reports whether long is short plus one dash-separated part.
func oneMorePart(long, short string) bool {
	rest, ok := strings.CutPrefix(long, short+"-")
	return ok && rest != "" && !strings.Contains(rest, "-")
}

// sameButDigits reports whether a and b are equal once their digits are
// removed.
func sameButDigits(a, b string) bool {
	strip := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return -1
			}
			return r
		}, s)
	}
	return strip(a) == strip(b)
}

// editDistance is the optimal string alignment distance of a and b
// (Levenshtein plus transposition of neighbours), or limit+1 as soon as it
// is certain to exceed limit.
func editDistance(a, b string, limit int) int {
	if d := len(a) - len(b); d > limit || -d > limit {
		return limit + 1
	}
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		best := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
			best = min(best, cur[j])
		}
		if best > limit {
			return limit + 1
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

// headlessServicesSelecting lists, quoted, the headless Services of the
// workload's namespace whose selector selects its pods.
func headlessServicesSelecting(c *Context, w Workload) []string {
	var out []string
	for _, svc := range c.ServicesSelecting(w.Ref.Namespace, w.Template.Labels) {
		if IsHeadless(svc) {
			out = append(out, "`"+svc.Name+"`")
		}
	}
	return out
}
