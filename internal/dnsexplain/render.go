package dnsexplain

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// RenderJSON writes the report as indented JSON.
func RenderJSON(w io.Writer, rep *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// RenderText writes the report as people read it: per group a table with
// one row per answer (expected, what the objects say, and what the DNS
// server answered, side by side), then why each missing or extra answer is
// so, and the fix.
func RenderText(w io.Writer, rep *Report) error {
	p := &printer{w: w}
	p.printf("cluster domain: %s", rep.ClusterDomain)
	if rep.DomainSource != "" {
		p.printf(" (%s)", rep.DomainSource)
	}
	p.printf("\n")
	if len(rep.Groups) == 0 {
		p.printf("%s: no StatefulSet and no pod with `spec.subdomain`, so no per-pod names to explain\n", rep.Target)
	}
	var records, missing, differs int
	for _, g := range rep.Groups {
		p.printf("\n")
		p.group(rep, g)
		for _, r := range g.Records {
			records++
			if r.Missing {
				missing++
			}
			if r.Differs {
				differs++
			}
		}
	}
	p.printf("\n%d records: %d missing an expected answer", records, missing)
	if rep.Resolver != "" {
		p.printf(", %d answered by %s otherwise than the objects say", differs, rep.Resolver)
	}
	p.printf("\n")
	return p.err
}

type printer struct {
	w   io.Writer
	err error
}

func (p *printer) printf(format string, args ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format, args...)
	}
}

func (p *printer) group(rep *Report, g Group) {
	members := strings.Join(g.Members, ", ")
	if members == "" {
		members = "nothing"
	}
	if g.Service == "" {
		p.printf("namespace %s: %s names no Service\n", g.Namespace, members)
	} else {
		p.printf("namespace %s: Service %s (%s), named by %s\n", g.Namespace, g.Service, g.ServiceState, members)
	}
	if len(g.Records) > 0 {
		suffix := "." + g.Namespace + ".svc." + rep.ClusterDomain
		p.printf("names relative to %s (as a pod of namespace %s may ask for them):\n", strings.TrimPrefix(suffix, "."), g.Namespace)
		tw := tabwriter.NewWriter(p.w, 0, 0, 2, ' ', 0)
		header := "NAME\tTYPE\tEXPECTED\tOBJECTS SAY"
		if rep.Resolver != "" {
			header += "\tDNS ANSWERED"
		}
		fmt.Fprintf(tw, "%s\tSTATUS\n", header)
		for _, r := range g.Records {
			for i, row := range rows(r) {
				name, typ := shortName(r.Name, g.Namespace, rep.ClusterDomain), r.Type
				if i > 0 {
					name, typ = "", ""
				}
				cells := []string{name, typ, p.short(row.expected, g, rep), p.short(row.objects, g, rep)}
				if rep.Resolver != "" {
					cells = append(cells, p.short(row.answered, g, rep))
				}
				fmt.Fprintf(tw, "%s\n", strings.Join(append(cells, row.status), "\t"))
			}
		}
		if err := tw.Flush(); err != nil && p.err == nil {
			p.err = err
		}
	}
	type why struct {
		reason Reason
		names  []string
	}
	var whys []why
	for _, r := range g.Records {
		for _, reason := range r.Reasons {
			i := slices.IndexFunc(whys, func(w why) bool { return w.reason == reason })
			if i < 0 {
				whys = append(whys, why{reason: reason})
				i = len(whys) - 1
			}
			n := shortName(r.Name, g.Namespace, rep.ClusterDomain)
			if !slices.Contains(whys[i].names, n) {
				whys[i].names = append(whys[i].names, n)
			}
		}
	}
	if len(whys) > 0 {
		p.printf("why:\n")
		for _, w := range whys {
			p.printf("  %s: %s\n", strings.Join(w.names, ", "), reasonText(w.reason))
			if w.reason.Fix != "" {
				p.printf("    fix: %s\n", w.reason.Fix)
			}
		}
	}
	if len(g.Notes) > 0 {
		p.printf("notes:\n")
		for _, n := range g.Notes {
			p.printf("  %s\n", reasonText(n))
			if n.Fix != "" {
				p.printf("    fix: %s\n", n.Fix)
			}
		}
	}
}

func reasonText(r Reason) string {
	if r.Rule != "" {
		return r.Message + " (" + r.Rule + ")"
	}
	return r.Message
}

// short is a cell value as the table prints it: a `target:port` or name
// in the group's namespace without `.<ns>.svc.<domain>`.
func (p *printer) short(v string, g Group, rep *Report) string {
	if v == "" {
		return "-"
	}
	suffix := "." + g.Namespace + ".svc." + rep.ClusterDomain
	if host, port, ok := strings.Cut(v, ":"); ok && strings.HasSuffix(host, suffix) {
		return strings.TrimSuffix(host, suffix) + ":" + port
	}
	return strings.TrimSuffix(v, suffix)
}

// row is one answer of a record across the columns; "" where a column
// lacks it.
type row struct {
	expected, objects, answered string
	status                      string
}

// rows lines up the record's answers: the expected ones first, then the
// others; a record with no answer anywhere is one row of dashes.
func rows(r Record) []row {
	values := slices.Clone(r.Expected)
	for _, list := range [][]string{r.Objects, r.Answered} {
		for _, v := range list {
			if !slices.Contains(values, v) {
				values = append(values, v)
			}
		}
	}
	final := r.Objects
	if r.Resolved {
		final = r.Answered
	}
	var out []row
	for _, v := range values {
		x := row{}
		if slices.Contains(r.Expected, v) {
			x.expected = v
		}
		if slices.Contains(r.Objects, v) {
			x.objects = v
		}
		if slices.Contains(r.Answered, v) {
			x.answered = v
		}
		switch {
		case x.expected != "" && slices.Contains(final, v):
			x.status = "ok"
		case x.expected != "":
			x.status = "MISSING"
		default:
			x.status = "EXTRA"
		}
		if r.Resolved && (x.objects == "") != (x.answered == "") {
			x.status += ", DIFFERS"
		}
		out = append(out, x)
	}
	if len(out) == 0 {
		status := "none expected"
		if r.Missing {
			status = "MISSING"
		}
		out = append(out, row{status: status})
	}
	return out
}
