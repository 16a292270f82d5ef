package report

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/headless-guard/headless-guard/rules"
)

// ToolVersion is the version SARIF output reports for the tool; the build sets
// it with -ldflags "-X github.com/headless-guard/headless-guard/internal/report.ToolVersion=…".
var ToolVersion = "dev"

const (
	sarifSchema  = "https://json.schemastore.org/sarif-2.1.0.json"
	sarifVersion = "2.1.0"
	toolName     = "headless-guard"
	toolURI      = "https://github.com/headless-guard/headless-guard"
	// sarifStdinURI names standard input: a SARIF location needs a URI, and
	// "-" would resolve against the repository root as a file called "-".
	sarifStdinURI = "stdin"
)

// sarifTags are the tags of every rule; GitHub code scanning offers them as filters.
var sarifTags = []string{"kubernetes", "statefulset", "dns"}

// The sarif* types are the subset of SARIF 2.1.0 that GitHub code scanning
// reads. They are structs, not maps, so that the output is byte-for-byte
// deterministic and golden-testable.
type (
	sarifLog struct {
		Schema  string     `json:"$schema"`
		Version string     `json:"version"`
		Runs    []sarifRun `json:"runs"`
	}
	sarifRun struct {
		Tool sarifTool `json:"tool"`
		// OriginalURIBaseIDs says where %SRCROOT% is, when the locations are
		// relative to the repository root.
		OriginalURIBaseIDs map[string]sarifArtifactLocation `json:"originalUriBaseIds,omitempty"`
		Results            []sarifResult                    `json:"results"`
	}
	sarifTool struct {
		Driver sarifDriver `json:"driver"`
	}
	sarifDriver struct {
		Name           string      `json:"name"`
		InformationURI string      `json:"informationUri"`
		Version        string      `json:"version"`
		Rules          []sarifRule `json:"rules"`
	}
	sarifRule struct {
		ID                   string             `json:"id"`
		Name                 string             `json:"name"`
		ShortDescription     sarifMessage       `json:"shortDescription"`
		FullDescription      sarifMessage       `json:"fullDescription"`
		Help                 sarifHelp          `json:"help"`
		HelpURI              string             `json:"helpUri"`
		DefaultConfiguration sarifConfiguration `json:"defaultConfiguration"`
		Properties           sarifRuleProps     `json:"properties"`
	}
	sarifMessage struct {
		Text string `json:"text"`
	}
	sarifHelp struct {
		Text     string `json:"text"`
		Markdown string `json:"markdown"`
	}
	sarifConfiguration struct {
		Level string `json:"level"`
	}
	sarifRuleProps struct {
		Tags []string `json:"tags"`
	}
	sarifResult struct {
		RuleID              string                   `json:"ruleId"`
		RuleIndex           int                      `json:"ruleIndex"`
		Level               string                   `json:"level"`
		Message             sarifMessage             `json:"message"`
		Locations           []sarifLocation          `json:"locations"`
		RelatedLocations    []sarifLocation          `json:"relatedLocations,omitempty"`
		PartialFingerprints sarifPartialFingerprints `json:"partialFingerprints"`
	}
	sarifLocation struct {
		// ID numbers related locations; a result's own location has none.
		ID               int                   `json:"id,omitempty"`
		PhysicalLocation sarifPhysicalLocation `json:"physicalLocation"`
	}
	sarifPhysicalLocation struct {
		ArtifactLocation sarifArtifactLocation `json:"artifactLocation"`
		Region           sarifRegion           `json:"region"`
	}
	sarifArtifactLocation struct {
		URI       string `json:"uri"`
		URIBaseID string `json:"uriBaseId,omitempty"`
	}
	sarifRegion struct {
		StartLine int `json:"startLine"`
	}
	sarifPartialFingerprints struct {
		PrimaryLocationLineHash string `json:"primaryLocationLineHash"`
	}
)

// renderSARIF writes a SARIF 2.1.0 log with one run.
func renderSARIF(buf *bytes.Buffer, r *Report) error {
	registry := r.Registry
	if registry == nil {
		registry = rules.Default()
	}
	ruleList := registry.Rules()
	index := make(map[string]int, len(ruleList))
	for i, rule := range ruleList {
		index[rule.ID] = i
	}
	// A finding from a rule outside the registry (a caller mixing registries)
	// still needs a valid ruleIndex, or GitHub rejects the upload.
	for _, f := range r.Findings {
		if _, ok := index[f.Rule.ID]; !ok {
			index[f.Rule.ID] = len(ruleList)
			ruleList = append(ruleList, f.Rule)
		}
	}

	driver := sarifDriver{
		Name:           toolName,
		InformationURI: toolURI,
		Version:        ToolVersion,
		Rules:          make([]sarifRule, 0, len(ruleList)),
	}
	for _, rule := range ruleList {
		driver.Rules = append(driver.Rules, sarifRuleOf(rule))
	}
	// Each reason of the notices present is a rule of its own after the
	// catalogue's, so that every result has a valid ruleIndex.
	for _, n := range r.Notices {
		if _, ok := index[n.Reason]; !ok {
			index[n.Reason] = len(driver.Rules)
			driver.Rules = append(driver.Rules, sarifNoticeRule(n.Reason))
		}
	}

	// GitHub requires "results" even when empty; null is not an empty array.
	results := make([]sarifResult, 0, len(r.Findings))
	seen := make(map[string]int)
	for _, f := range r.Findings {
		hash := fingerprint(f)
		seen[hash]++
		line := f.Line
		if line < 1 {
			// SARIF regions are 1-based and GitHub rejects startLine 0; the
			// top of the file is the honest answer for "somewhere in here".
			line = 1
		}
		results = append(results, sarifResult{
			RuleID:    f.Rule.ID,
			RuleIndex: index[f.Rule.ID],
			Level:     sarifLevel(f.Action),
			Message: sarifMessage{
				Text: fmt.Sprintf("%s: %s. %s", f.Object, f.Error.Error(), f.Rule.Remediation),
			},
			Locations: []sarifLocation{{PhysicalLocation: sarifPhysicalLocation{
				ArtifactLocation: sarifArtifact(f.File, r.Root),
				Region:           sarifRegion{StartLine: line},
			}}},
			// The occurrence suffix follows GitHub's own "hash:n" form and keeps
			// two identical findings in one run from collapsing into one alert.
			PartialFingerprints: sarifPartialFingerprints{
				PrimaryLocationLineHash: fmt.Sprintf("%s:%d", hash, seen[hash]),
			},
		})
	}

	for _, n := range r.Notices {
		hash := noticeFingerprint(n)
		seen[hash]++
		text := n.Message
		if n.Object != (rules.ObjectRef{}) {
			text = fmt.Sprintf("%s: %s", n.Object, n.Message)
		}
		res := sarifResult{
			RuleID:              n.Reason,
			RuleIndex:           index[n.Reason],
			Level:               "warning",
			Message:             sarifMessage{Text: text},
			Locations:           []sarifLocation{sarifLocationOf(n.Location, 0, r.Root)},
			PartialFingerprints: sarifPartialFingerprints{PrimaryLocationLineHash: fmt.Sprintf("%s:%d", hash, seen[hash])},
		}
		for i, l := range n.Related {
			res.RelatedLocations = append(res.RelatedLocations, sarifLocationOf(l, i+1, r.Root))
		}
		results = append(results, res)
	}

	run := sarifRun{Tool: sarifTool{Driver: driver}, Results: results}
	if r.Root != "" {
		root := filepath.ToSlash(r.Root)
		if !strings.HasPrefix(root, "/") {
			root = "/" + root
		}
		if !strings.HasSuffix(root, "/") {
			root += "/"
		}
		run.OriginalURIBaseIDs = map[string]sarifArtifactLocation{sarifSrcRoot: {URI: (&url.URL{Scheme: "file", Path: root}).String()}}
	}
	log := sarifLog{
		Schema:  sarifSchema,
		Version: sarifVersion,
		Runs:    []sarifRun{run},
	}
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(log)
}

// sarifRuleOf describes one catalogue rule as a SARIF reportingDescriptor.
func sarifRuleOf(rule *rules.Rule) sarifRule {
	return sarifRule{
		ID:               rule.ID,
		Name:             rule.Name,
		ShortDescription: sarifMessage{Text: rule.Summary},
		FullDescription:  sarifMessage{Text: rule.Why},
		Help: sarifHelp{
			Text:     fmt.Sprintf("%s See %s", rule.Remediation, rule.DocsURL()),
			Markdown: fmt.Sprintf("%s\n\n[%s %s](%s)", rule.Remediation, rule.ID, rule.Name, rule.DocsURL()),
		},
		HelpURI:              rule.DocsURL(),
		DefaultConfiguration: sarifConfiguration{Level: sarifLevel(rule.Default)},
		Properties:           sarifRuleProps{Tags: sarifTags},
	}
}

// sarifLevel maps an action to a SARIF level.
func sarifLevel(a rules.Action) string {
	switch a {
	case rules.ActionDeny:
		return "error"
	case rules.ActionWarn:
		return "warning"
	default:
		return "none"
	}
}

// fingerprint hashes what identifies a defect independently of where it sits
// in the input: rule, object and field. Moving an object to another file or
// line, or re-rendering a chart, must not turn one alert into a new one.
// apiVersion is left out because migrating an object to a newer API version
// does not fix or create a defect.
func fingerprint(f Finding) string {
	h := sha256.New()
	for _, part := range []string{f.Rule.ID, f.Object.Kind, f.Object.Namespace, f.Object.Name, f.Error.Field} {
		h.Write([]byte(part))
		h.Write([]byte{0}) // separator: ("ab","c") and ("a","bc") must differ
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// sarifURI turns a file name as given on the command line into an artifact URI.
// Relative paths stay relative (GitHub resolves them against the repository
// root), with forward slashes and percent-escaping; absolute paths become
// file:// URIs, which GitHub makes relative to the checkout itself.
func sarifURI(file string) string {
	if isStdin(file) {
		return sarifStdinURI
	}
	if isCluster(file) {
		return (&url.URL{Scheme: "cluster", Opaque: strings.TrimPrefix(file, ClusterPrefix)}).String()
	}
	p := filepath.ToSlash(filepath.Clean(file))
	if filepath.IsAbs(file) {
		if !strings.HasPrefix(p, "/") {
			p = "/" + p // Windows drive paths: file:///C:/…
		}
		return (&url.URL{Scheme: "file", Path: p}).String()
	}
	return (&url.URL{Path: p}).String()
}

// sarifSrcRoot is the base of locations relative to the repository root.
const sarifSrcRoot = "%SRCROOT%"

// sarifArtifact is the artifact location of file: relative to root, with
// the base %SRCROOT%, when root is set and holds the file; else sarifURI.
func sarifArtifact(file, root string) sarifArtifactLocation {
	if rel, ok := relativeTo(file, root); ok {
		return sarifArtifactLocation{URI: (&url.URL{Path: rel}).String(), URIBaseID: sarifSrcRoot}
	}
	return sarifArtifactLocation{URI: sarifURI(file)}
}

// relativeTo is file relative to root, with forward slashes; ok is false
// for standard input, no root, or a file outside root.
func relativeTo(file, root string) (string, bool) {
	if root == "" || isStdin(file) || isCluster(file) {
		return "", false
	}
	abs, err := filepath.Abs(file)
	if err != nil {
		return "", false
	}
	rel, err := filepath.Rel(root, abs)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", false
	}
	return filepath.ToSlash(rel), true
}

// sarifLocationOf is a location in SARIF's terms; id numbers a related one.
func sarifLocationOf(l Location, id int, root string) sarifLocation {
	line := l.Line
	if line < 1 {
		line = 1
	}
	return sarifLocation{ID: id, PhysicalLocation: sarifPhysicalLocation{
		ArtifactLocation: sarifArtifact(l.File, root),
		Region:           sarifRegion{StartLine: line},
	}}
}

// sarifNoticeRule describes a reason of notices as a SARIF reportingDescriptor.
func sarifNoticeRule(reason string) sarifRule {
	h := noticeHelp[reason]
	return sarifRule{
		ID:                   reason,
		Name:                 reason,
		ShortDescription:     sarifMessage{Text: h.summary},
		FullDescription:      sarifMessage{Text: h.summary},
		Help:                 sarifHelp{Text: h.remediation, Markdown: h.remediation},
		HelpURI:              toolURI,
		DefaultConfiguration: sarifConfiguration{Level: "warning"},
		Properties:           sarifRuleProps{Tags: sarifTags},
	}
}

// noticeFingerprint hashes what identifies a notice wherever it sits:
// reason, object and key path.
func noticeFingerprint(n Notice) string {
	h := sha256.New()
	for _, part := range []string{n.Reason, n.Object.Kind, n.Object.Namespace, n.Object.Name, n.Field} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}
