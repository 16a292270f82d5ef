package report

import (
	"bytes"
	"fmt"
	"strings"
)

// renderGitHub writes GitHub Actions workflow commands, one annotation per
// finding (`::error` for deny, `::warning` for warn), per notice
// (`::warning`) and per skipped file (`::notice`), then the text summary:
// the findings appear on the pull request's files without code scanning.
//
//	::error file=envs/prod/app.yaml,line=12,title=HG002 service-exists::StatefulSet default/web: spec.serviceName: …
//
// Paths are relative to Report.Root (the repository root, which is where
// GitHub resolves them) when it holds them.
func renderGitHub(buf *bytes.Buffer, r *Report) error {
	for _, sk := range r.Skipped {
		annotate(buf, "notice", r.Root, sk.Location, "skipped", sk.Reason)
	}
	for _, n := range r.Notices {
		annotate(buf, "warning", r.Root, n.Location, n.Reason, noticeLine(n))
	}
	for _, f := range r.Findings {
		level := "warning"
		if f.Action == "deny" {
			level = "error"
		}
		annotate(buf, level, r.Root, f.Location, f.Rule.ID+" "+f.Rule.Name,
			fmt.Sprintf("%s: %s\n%s", f.Object, f.Error.Error(), fixLine(f.Rule)))
	}
	s := r.Summarize()
	fmt.Fprintf(buf, "%s checked: %s\n", plural(s.Objects, "object", "objects"), counts(s))
	return nil
}

// annotate writes one workflow command.
func annotate(buf *bytes.Buffer, level, root string, l Location, title, msg string) {
	var props []string
	if !isStdin(l.File) && !isCluster(l.File) && l.File != "" {
		file := l.File
		if rel, ok := relativeTo(l.File, root); ok {
			file = rel
		}
		props = append(props, "file="+escapeProperty(file))
		if l.Line > 0 {
			props = append(props, fmt.Sprintf("line=%d", l.Line))
		}
	}
	if isCluster(l.File) {
		title += " (" + l.File + ")"
	}
	props = append(props, "title="+escapeProperty(title))
	fmt.Fprintf(buf, "::%s %s::%s\n", level, strings.Join(props, ","), escapeData(msg))
}

// escapeData escapes a workflow command's message as the runner requires
// (actions/toolkit, command.ts): %, CR and LF.
func escapeData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

// escapeProperty escapes a property value: as data, and `:` and `,`, which
// end a value.
func escapeProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}
