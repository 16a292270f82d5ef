package report

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"strings"

	"github.com/headless-guard/headless-guard/rules"
)

// The junit* types are the common subset of the JUnit XML dialects that CI
// systems (Jenkins, GitLab, Azure DevOps, GitHub test reporters) all read.
type (
	junitTestSuites struct {
		XMLName  xml.Name         `xml:"testsuites"`
		Name     string           `xml:"name,attr"`
		Tests    int              `xml:"tests,attr"`
		Failures int              `xml:"failures,attr"`
		Suites   []junitTestSuite `xml:"testsuite"`
	}
	junitTestSuite struct {
		Name     string          `xml:"name,attr"`
		Tests    int             `xml:"tests,attr"`
		Failures int             `xml:"failures,attr"`
		Cases    []junitTestCase `xml:"testcase"`
	}
	junitTestCase struct {
		ClassName string        `xml:"classname,attr"`
		Name      string        `xml:"name,attr"`
		Failure   *junitFailure `xml:"failure,omitempty"`
		SystemOut *junitOutput  `xml:"system-out,omitempty"`
	}
	// junitOutput is CDATA so that line breaks survive: as character data
	// encoding/xml would escape them to &#xA;.
	junitOutput struct {
		Text string `xml:",cdata"`
	}
	junitFailure struct {
		Type    string `xml:"type,attr"`
		Message string `xml:"message,attr"`
		Text    string `xml:",cdata"`
	}
)

// junitKey matches findings to objects: the same reference may occur in two
// files (base and overlay), and each is its own test case.
type junitKey struct {
	ref  rules.ObjectRef
	file string
}

// junitCase collects what belongs to one test case before it is rendered.
type junitCase struct {
	file     string
	ref      rules.ObjectRef
	skipped  []string
	findings []Finding
	notices  []Notice
}

// renderJUnit writes one test suite per file and one test case per object.
// A deny finding fails the object's test case; warnings and skipped rules are
// reported in its system-out so that CI shows them without failing the build.
func renderJUnit(buf *bytes.Buffer, r *Report) error {
	var cases []*junitCase
	byKey := make(map[junitKey]*junitCase)
	add := func(file string, ref rules.ObjectRef) *junitCase {
		c := &junitCase{file: displayFile(file), ref: ref}
		cases = append(cases, c)
		// The first object wins when a file holds the same reference twice;
		// findings carry no document index to tell the copies apart.
		k := junitKey{ref, c.file}
		if byKey[k] == nil {
			byKey[k] = c
		}
		return c
	}
	for _, o := range r.Objects {
		c := add(o.File, o.Ref)
		c.skipped = append(c.skipped, o.Skipped...)
	}
	for _, f := range r.Findings {
		c := byKey[junitKey{f.Object, displayFile(f.File)}]
		if c == nil {
			// A finding about an object the report does not list still has to
			// show up; dropping it would turn a failing check green.
			c = add(f.File, f.Object)
		}
		c.findings = append(c.findings, f)
	}
	for _, n := range r.Notices {
		c := byKey[junitKey{n.Object, displayFile(n.File)}]
		if c == nil {
			c = add(n.File, n.Object)
		}
		c.notices = append(c.notices, n)
	}

	out := junitTestSuites{Name: toolName}
	suiteIndex := make(map[string]int)
	for _, c := range cases {
		i, ok := suiteIndex[c.file]
		if !ok {
			i = len(out.Suites)
			suiteIndex[c.file] = i
			out.Suites = append(out.Suites, junitTestSuite{Name: c.file})
		}
		tc := c.render()
		s := &out.Suites[i]
		s.Cases = append(s.Cases, tc)
		s.Tests++
		out.Tests++
		if tc.Failure != nil {
			s.Failures++
			out.Failures++
		}
	}

	buf.WriteString(xml.Header)
	enc := xml.NewEncoder(buf)
	enc.Indent("", "  ")
	if err := enc.Encode(out); err != nil {
		return fmt.Errorf("report: junit: %w", err)
	}
	buf.WriteByte('\n')
	return nil
}

// render builds the test case: all deny findings go into one failure element,
// because JUnit consumers show only the first failure of a test case;
// notices, like warnings, go to its output.
func (c *junitCase) render() junitTestCase {
	tc := junitTestCase{ClassName: c.file, Name: c.ref.String()}
	if c.ref == (rules.ObjectRef{}) {
		tc.Name = c.file
	}
	var ids, messages []string
	var failure, out strings.Builder
	for _, n := range c.notices {
		fmt.Fprintf(&out, "%s: %s\n", position(n.Location), noticeLine(n))
	}
	for _, f := range c.findings {
		block := fmt.Sprintf("%s: %s\n  %s\n", position(f.Location), findingLine(f), fixLine(f.Rule))
		if f.Action == rules.ActionDeny {
			ids = append(ids, f.Rule.ID)
			messages = append(messages, fmt.Sprintf("%s %s: %s", f.Rule.ID, f.Rule.Name, f.Error.Error()))
			failure.WriteString(block)
		} else {
			out.WriteString(block)
		}
	}
	if len(c.skipped) > 0 {
		fmt.Fprintf(&out, "skipped (headless-guard.io/skip): %s\n", strings.Join(c.skipped, ", "))
	}
	if len(ids) > 0 {
		tc.Failure = &junitFailure{
			Type:    strings.Join(ids, ","),
			Message: strings.Join(messages, "; "),
			Text:    failure.String(),
		}
	}
	if out.Len() > 0 {
		tc.SystemOut = &junitOutput{Text: out.String()}
	}
	return tc
}
