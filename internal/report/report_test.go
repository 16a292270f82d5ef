package report

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/headless-guard/headless-guard/rules"
)

// mustRule returns a rule of the real catalogue, so that the golden files show
// the texts users will see.
func mustRule(t *testing.T, id string) *rules.Rule {
	t.Helper()
	rule, ok := rules.Default().Get(id)
	if !ok {
		t.Fatalf("rule %s is not in the catalogue", id)
	}
	return rule
}

func sts(ns, name string) rules.ObjectRef {
	return rules.ObjectRef{APIVersion: "apps/v1", Kind: rules.KindStatefulSet, Namespace: ns, Name: name}
}

func svc(ns, name string) rules.ObjectRef {
	return rules.ObjectRef{APIVersion: "v1", Kind: rules.KindService, Namespace: ns, Name: name}
}

func finding(t *testing.T, id string, action rules.Action, obj rules.ObjectRef, err *field.Error, file string, line int) Finding {
	t.Helper()
	return Finding{
		Finding:  rules.Finding{Rule: mustRule(t, id), Action: action, Object: obj, Error: err, Primary: true},
		Location: Location{File: file, Line: line},
	}
}

func notFound(path *field.Path, value any, detail string) *field.Error {
	err := field.NotFound(path, value)
	err.Detail = detail
	return err
}

var serviceNamePath = field.NewPath("spec", "serviceName")

// testReports are the reports every format is rendered from.
func testReports(t *testing.T) []struct {
	name   string
	report *Report
} {
	web, nginx, db := sts("default", "web"), svc("default", "nginx"), sts("shop", "db")
	return []struct {
		name   string
		report *Report
	}{
		{
			name: "empty",
			report: &Report{
				Files: 1, Documents: 3, Registry: rules.Default(),
				Objects: []Object{
					{Ref: web, Location: Location{File: "manifests/web.yaml", Line: 1}},
					{Ref: nginx, Location: Location{File: "manifests/web.yaml", Line: 30}},
					{Ref: db, Location: Location{File: "manifests/web.yaml", Line: 50}},
				},
			},
		},
		{
			name: "deny-and-warn",
			report: &Report{
				Files: 2, Documents: 4, Registry: rules.Default(),
				Objects: []Object{
					{Ref: web, Location: Location{File: "manifests/web.yaml", Line: 1}},
					{Ref: nginx, Location: Location{File: "manifests/web.yaml", Line: 30}, Skipped: []string{"HG005"}},
					{Ref: db, Location: Location{File: "manifests/db.yaml", Line: 1}},
					{Ref: svc("shop", "db"), Location: Location{File: "manifests/db.yaml", Line: 40}},
				},
				Findings: []Finding{
					finding(t, "HG002", rules.ActionDeny, web,
						notFound(serviceNamePath, "nginx-headless", "must name an existing Service in namespace `default`: create a headless Service `nginx-headless` (`clusterIP: None`) selecting `app=nginx` first"),
						"manifests/web.yaml", 12),
					finding(t, "HG006", rules.ActionDeny, web,
						notFound(field.NewPath("spec", "template", "spec", "containers").Index(0).Child("ports"), "web",
							"must declare a container port named `web`, the targetPort of Service `nginx` port `web`"),
						"manifests/web.yaml", 20),
					finding(t, "HG008", rules.ActionWarn, nginx,
						field.Invalid(field.NewPath("spec", "selector"), map[string]string{"app": "nginx"},
							"must select only the pods of StatefulSet `web`: it also selects Deployment `nginx-canary`"),
						"manifests/web.yaml", 36),
					finding(t, "HG001", rules.ActionWarn, db,
						field.Required(serviceNamePath, "must name a headless Service for the pods to get DNS names"),
						"manifests/db.yaml", 7),
				},
			},
		},
		{
			name: "stdin",
			report: &Report{
				Files: 1, Documents: 2, Registry: rules.Default(),
				Objects: []Object{
					{Ref: web, Location: Location{File: "-", Line: 1}},
					{Ref: nginx, Location: Location{File: "-", Line: 25}},
				},
				Findings: []Finding{
					finding(t, "HG003", rules.ActionDeny, web,
						field.Invalid(serviceNamePath, "nginx",
							"must name a headless Service: Service `nginx` has `spec.clusterIP: 10.96.0.12`, set `clusterIP: None`"),
						"-", 9),
				},
			},
		},
		{
			name: "notices",
			report: &Report{
				Files: 2, Documents: 4, Registry: rules.Default(),
				Objects: []Object{
					{Ref: sts("default", "etcd"), Location: Location{File: "charts/etcd.yaml", Line: 1}},
					{Ref: svc("default", "db"), Location: Location{File: "charts/db.yaml", Line: 1}},
					{Ref: rules.ObjectRef{APIVersion: "apps/v1beta2", Kind: "StatefulSet", Namespace: "default", Name: "cache"}, Location: Location{File: "charts/db.yaml", Line: 20}},
				},
				Notices: []Notice{
					{Reason: NoticeDuplicateKey, Object: sts("default", "etcd"), Field: "metadata",
						Location: Location{File: "charts/etcd.yaml", Line: 9}, Related: []Location{{File: "charts/etcd.yaml", Line: 3}},
						Message: "`metadata` is set twice, at lines 3 and 9: kubectl applies the last value and drops the other; a key must appear once in a mapping"},
					{Reason: NoticeDuplicateObject, Object: svc("default", "db"),
						Location: Location{File: "charts/all.yaml", Line: 40}, Related: []Location{{File: "charts/db.yaml", Line: 1}},
						Message: "defined again at charts/db.yaml:1, which kubectl applies last and is the definition checked; an object must be defined once in the input"},
					{Reason: NoticeNotChecked, Object: rules.ObjectRef{APIVersion: "apps/v1beta2", Kind: "StatefulSet", Namespace: "default", Name: "cache"},
						Location: Location{File: "charts/db.yaml", Line: 20},
						Message:  "the rules did not evaluate it: `apiVersion: apps/v1beta2` is not served since Kubernetes 1.16 (`kubectl apply` fails with \"no matches for kind StatefulSet\"); it must be `apps/v1`"},
				},
			},
		},
		{
			name: "line-unknown",
			report: &Report{
				Files: 1, Documents: 1, Registry: rules.Default(),
				Objects: []Object{
					{Ref: web, Location: Location{File: "rendered/all.json"}},
				},
				Findings: []Finding{
					finding(t, "HG007", rules.ActionDeny, web,
						field.Invalid(field.NewPath("metadata", "name"), strings.Repeat("w", 60),
							"must be no more than 52 characters: the `controller-revision-hash` label value is the name plus 11 characters"),
						"rendered/all.json", 0),
				},
			},
		},
	}
}

// TestGolden compares every format of every test report with its golden file.
// Regenerate with UPDATE_GOLDEN=1 go test ./internal/report/.
func TestGolden(t *testing.T) {
	update := os.Getenv("UPDATE_GOLDEN") != ""
	ext := map[string]string{"text": "txt", "json": "json", "sarif": "sarif", "junit": "xml", "github": "github"}
	for _, tc := range testReports(t) {
		for _, format := range Formats {
			t.Run(tc.name+"/"+format, func(t *testing.T) {
				var buf bytes.Buffer
				if err := Write(&buf, format, tc.report); err != nil {
					t.Fatalf("Write(%s): %v", format, err)
				}
				e, ok := ext[format]
				if !ok {
					t.Fatalf("format %q has no golden file extension: add one to ext", format)
				}
				path := filepath.Join("testdata", tc.name+"."+e+".golden")
				if update {
					if err := os.MkdirAll("testdata", 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run UPDATE_GOLDEN=1 go test ./internal/report/ to create it)", err)
				}
				if diff := cmp.Diff(string(want), buf.String()); diff != "" {
					t.Errorf("%s output differs from %s (-want +got):\n%s", format, path, diff)
				}
			})
		}
	}
}

func render(t *testing.T, format string, r *Report) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, format, r); err != nil {
		t.Fatalf("Write(%s): %v", format, err)
	}
	return buf.Bytes()
}

func TestText(t *testing.T) {
	tests := []struct {
		name   string
		report func(t *testing.T) *Report
		want   []string // lines that must appear, in this order
	}{
		{
			name: "finding names file and line, then the fix",
			report: func(t *testing.T) *Report {
				return &Report{
					Objects: []Object{{Ref: sts("default", "web")}, {Ref: svc("default", "nginx")}},
					Findings: []Finding{finding(t, "HG002", rules.ActionDeny, sts("default", "web"),
						notFound(serviceNamePath, "nginx", "must name an existing Service"), "manifests/web.yaml", 12)},
				}
			},
			want: []string{
				`manifests/web.yaml:12: deny HG002 service-exists: StatefulSet default/web: spec.serviceName: Not found: "nginx": must name an existing Service`,
				"  fix: " + mustRule(t, "HG002").Remediation + " (" + mustRule(t, "HG002").DocsURL() + ")",
				"2 objects checked: 1 deny, 0 warn",
			},
		},
		{
			name: "unknown line prints only the file",
			report: func(t *testing.T) *Report {
				return &Report{
					Objects: []Object{{Ref: sts("default", "web")}},
					Findings: []Finding{finding(t, "HG001", rules.ActionWarn, sts("default", "web"),
						field.Required(serviceNamePath, "must be set"), "all.yaml", 0)},
				}
			},
			want: []string{
				"all.yaml: warn HG001 service-name-set: StatefulSet default/web: spec.serviceName: Required value: must be set",
				"1 object checked: 0 deny, 1 warn",
			},
		},
		{
			name: "clean run",
			report: func(t *testing.T) *Report {
				return &Report{Objects: make([]Object, 3)}
			},
			want: []string{"3 objects checked: no findings"},
		},
		{
			name: "skips are counted even without findings",
			report: func(t *testing.T) *Report {
				return &Report{Objects: []Object{{Skipped: []string{"HG005", "HG006"}}}}
			},
			want: []string{"1 object checked: 0 deny, 0 warn, 1 object skips rules"},
		},
		{
			// Objects are counted, not the rules they skip (issue 14).
			name: "skips count objects, not rules",
			report: func(t *testing.T) *Report {
				return &Report{Objects: []Object{{Skipped: []string{"HG005", "HG006"}}, {}, {Skipped: []string{"all"}}}}
			},
			want: []string{"3 objects checked: 0 deny, 0 warn, 2 objects skip rules"},
		},
		{
			name: "skipped files are named and counted",
			report: func(t *testing.T) *Report {
				return &Report{Objects: make([]Object, 1), Skipped: []Skipped{{Location: Location{File: "chart/values.yaml"}, Reason: "not a Kubernetes manifest"}}}
			},
			want: []string{"chart/values.yaml: skipped: not a Kubernetes manifest", "1 object checked: no findings (1 file skipped)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := strings.Split(strings.TrimSuffix(string(render(t, "text", tt.report(t))), "\n"), "\n")
			i := 0
			for _, line := range got {
				if i < len(tt.want) && line == tt.want[i] {
					i++
				}
			}
			if i < len(tt.want) {
				t.Errorf("missing line %q in output:\n%s", tt.want[i], strings.Join(got, "\n"))
			}
		})
	}
}

func TestJSON(t *testing.T) {
	required := []string{"rule", "name", "severity", "object", "field", "type", "message", "remediation", "file", "line"}
	for _, tc := range testReports(t) {
		t.Run(tc.name, func(t *testing.T) {
			out := render(t, "json", tc.report)
			if !bytes.HasSuffix(out, []byte("}\n")) || bytes.Count(out, []byte("\n}\n")) != 1 {
				t.Errorf("output is not exactly one JSON object with a trailing newline:\n%s", out)
			}
			var doc map[string]json.RawMessage
			if err := json.Unmarshal(out, &doc); err != nil {
				t.Fatalf("output is not JSON: %v\n%s", err, out)
			}
			if got := string(doc["findings"]); got == "null" || got == "" {
				t.Fatalf(`"findings" = %q, want an array`, got)
			}
			var findings []map[string]any
			if err := json.Unmarshal(doc["findings"], &findings); err != nil {
				t.Fatalf("findings: %v", err)
			}
			if len(findings) != len(tc.report.Findings) {
				t.Fatalf("got %d findings, want %d", len(findings), len(tc.report.Findings))
			}
			for i, got := range findings {
				want := tc.report.Findings[i]
				for _, key := range required {
					if _, ok := got[key]; !ok {
						t.Errorf("finding %d has no %q key: %v", i, key, got)
					}
				}
				obj, _ := got["object"].(map[string]any)
				for _, key := range []string{"apiVersion", "kind", "namespace", "name"} {
					if _, ok := obj[key]; !ok {
						t.Errorf("finding %d object has no %q key: %v", i, key, obj)
					}
				}
				checks := map[string]any{
					"rule": want.Rule.ID, "name": want.Rule.Name, "severity": string(want.Action),
					"field": want.Error.Field, "type": string(want.Error.Type), "message": want.Error.Detail,
					"remediation": want.Rule.Remediation, "line": float64(want.Line),
				}
				for key, v := range checks {
					if got[key] != v {
						t.Errorf("finding %d %q = %v, want %v", i, key, got[key], v)
					}
				}
				// A value is shown exactly when kubectl shows one: after the
				// type in "spec.serviceName: Not found: \"nginx\": …".
				body, typ := want.Error.ErrorBody(), want.Error.Type.String()
				wantValue := body != typ && body != typ+": "+want.Error.Detail
				if _, has := got["value"]; has != wantValue {
					t.Errorf("finding %d: value present = %v, want %v (%s)", i, has, wantValue, want.Error.Error())
				}
			}
			var summary Summary
			if err := json.Unmarshal(doc["summary"], &summary); err != nil {
				t.Fatalf("summary: %v", err)
			}
			if diff := cmp.Diff(tc.report.Summarize(), summary); diff != "" {
				t.Errorf("summary (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBadValue(t *testing.T) {
	tests := []struct {
		name   string
		typ    field.ErrorType
		value  any
		want   string
		wantOK bool
	}{
		{name: "nil is no value", value: nil},
		{name: "required has no value", typ: field.ErrorTypeRequired, value: ""},
		{name: "omitted value", value: field.OmitValueType{}},
		{name: "string is not quoted", value: "nginx", want: "nginx", wantOK: true},
		{name: "empty string is a value", value: "", want: "", wantOK: true},
		{name: "number", value: int64(70), want: "70", wantOK: true},
		{name: "map as JSON", value: map[string]string{"app": "web"}, want: `{"app":"web"}`, wantOK: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			typ := tt.typ
			if typ == "" {
				typ = field.ErrorTypeInvalid
			}
			got, ok := badValue(&field.Error{Type: typ, BadValue: tt.value})
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("badValue(%#v) = %q, %v; want %q, %v", tt.value, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

// sarifDoc reads SARIF with the property names of the specification, typed
// independently of the writer's structs so that a wrong tag there fails here.
type sarifDoc struct {
	Schema  string `json:"$schema"`
	Version string `json:"version"`
	Runs    []struct {
		Tool struct {
			Driver struct {
				Name           string `json:"name"`
				InformationURI string `json:"informationUri"`
				Version        string `json:"version"`
				Rules          []struct {
					ID               string `json:"id"`
					Name             string `json:"name"`
					ShortDescription struct {
						Text string `json:"text"`
					} `json:"shortDescription"`
					FullDescription struct {
						Text string `json:"text"`
					} `json:"fullDescription"`
					Help struct {
						Text     string `json:"text"`
						Markdown string `json:"markdown"`
					} `json:"help"`
					HelpURI              string `json:"helpUri"`
					DefaultConfiguration struct {
						Level string `json:"level"`
					} `json:"defaultConfiguration"`
					Properties struct {
						Tags []string `json:"tags"`
					} `json:"properties"`
				} `json:"rules"`
			} `json:"driver"`
		} `json:"tool"`
		Results []struct {
			RuleID    *string `json:"ruleId"`
			RuleIndex *int    `json:"ruleIndex"`
			Level     string  `json:"level"`
			Message   struct {
				Text string `json:"text"`
			} `json:"message"`
			Locations []struct {
				PhysicalLocation struct {
					ArtifactLocation struct {
						URI string `json:"uri"`
					} `json:"artifactLocation"`
					Region struct {
						StartLine int `json:"startLine"`
					} `json:"region"`
				} `json:"physicalLocation"`
			} `json:"locations"`
			PartialFingerprints map[string]string `json:"partialFingerprints"`
		} `json:"results"`
	} `json:"runs"`
}

func TestSARIF(t *testing.T) {
	levels := map[string]bool{"error": true, "warning": true, "note": true, "none": true}
	for _, tc := range testReports(t) {
		t.Run(tc.name, func(t *testing.T) {
			out := render(t, "sarif", tc.report)
			var doc sarifDoc
			if err := json.Unmarshal(out, &doc); err != nil {
				t.Fatalf("output is not JSON: %v", err)
			}
			if doc.Version != "2.1.0" || doc.Schema != "https://json.schemastore.org/sarif-2.1.0.json" {
				t.Errorf("version %q, $schema %q", doc.Version, doc.Schema)
			}
			if len(doc.Runs) != 1 {
				t.Fatalf("got %d runs, want 1", len(doc.Runs))
			}
			run := doc.Runs[0]
			driver := run.Tool.Driver
			if driver.Name != "headless-guard" || driver.InformationURI == "" || driver.Version == "" {
				t.Errorf("driver = %q %q %q", driver.Name, driver.InformationURI, driver.Version)
			}
			reasons := map[string]bool{}
			for _, n := range tc.report.Notices {
				reasons[n.Reason] = true
			}
			if got, want := len(driver.Rules), len(tc.report.Registry.Rules())+len(reasons); got != want {
				t.Errorf("got %d rules, want every rule of the registry and one per reason of notice (%d)", got, want)
			}
			for _, rule := range driver.Rules {
				if rule.ID == "" || rule.Name == "" || rule.ShortDescription.Text == "" || rule.FullDescription.Text == "" {
					t.Errorf("rule %q lacks id, name or descriptions", rule.ID)
				}
				if rule.Help.Text == "" || rule.Help.Markdown == "" || !strings.HasPrefix(rule.HelpURI, "https://") {
					t.Errorf("rule %s lacks help: %+v %q", rule.ID, rule.Help, rule.HelpURI)
				}
				if !levels[rule.DefaultConfiguration.Level] {
					t.Errorf("rule %s default level %q", rule.ID, rule.DefaultConfiguration.Level)
				}
				if len(rule.Properties.Tags) == 0 {
					t.Errorf("rule %s has no tags", rule.ID)
				}
			}
			if run.Results == nil {
				t.Fatal(`"results" is missing or null; GitHub requires an array`)
			}
			if len(run.Results) != len(tc.report.Findings)+len(tc.report.Notices) {
				t.Fatalf("got %d results, want %d", len(run.Results), len(tc.report.Findings)+len(tc.report.Notices))
			}
			fingerprints := map[string]bool{}
			for i, res := range run.Results[:len(tc.report.Findings)] {
				want := tc.report.Findings[i]
				if res.RuleID == nil || res.RuleIndex == nil {
					t.Fatalf("result %d lacks ruleId or ruleIndex", i)
				}
				if *res.RuleIndex < 0 || *res.RuleIndex >= len(driver.Rules) || driver.Rules[*res.RuleIndex].ID != *res.RuleID {
					t.Errorf("result %d: ruleIndex %d does not point at rule %s", i, *res.RuleIndex, *res.RuleID)
				}
				wantLevel := map[rules.Action]string{rules.ActionDeny: "error", rules.ActionWarn: "warning"}[want.Action]
				if res.Level != wantLevel {
					t.Errorf("result %d level %q, want %q", i, res.Level, wantLevel)
				}
				if !strings.Contains(res.Message.Text, want.Object.String()) || !strings.Contains(res.Message.Text, want.Error.Detail) {
					t.Errorf("result %d message %q lacks the object or the detail", i, res.Message.Text)
				}
				if len(res.Locations) != 1 {
					t.Fatalf("result %d has %d locations, want 1", i, len(res.Locations))
				}
				loc := res.Locations[0].PhysicalLocation
				if uri := loc.ArtifactLocation.URI; uri == "" || uri == "-" || strings.Contains(uri, `\`) {
					t.Errorf("result %d uri %q", i, uri)
				}
				if loc.Region.StartLine < 1 {
					t.Errorf("result %d startLine %d, want ≥ 1", i, loc.Region.StartLine)
				}
				fp := res.PartialFingerprints["primaryLocationLineHash"]
				if fp == "" || fingerprints[fp] {
					t.Errorf("result %d fingerprint %q is empty or not unique", i, fp)
				}
				fingerprints[fp] = true
			}
		})
	}
}

func TestSARIFFingerprint(t *testing.T) {
	base := finding(t, "HG002", rules.ActionDeny, sts("default", "web"), notFound(serviceNamePath, "nginx", "must exist"), "a.yaml", 12)
	moved := base
	moved.Location = Location{File: "other/b.yaml", Line: 40}
	moved.Object.APIVersion = "apps/v1beta2"
	moved.Error = notFound(serviceNamePath, "nginx-headless", "must exist, reworded")
	if fingerprint(base) != fingerprint(moved) {
		t.Error("fingerprint changed when only the location, apiVersion, value or message changed")
	}
	for name, change := range map[string]func(*Finding){
		"rule":      func(f *Finding) { f.Rule = mustRule(t, "HG003") },
		"namespace": func(f *Finding) { f.Object.Namespace = "prod" },
		"name":      func(f *Finding) { f.Object.Name = "web2" },
		"field":     func(f *Finding) { f.Error = notFound(field.NewPath("spec", "selector"), "x", "") },
	} {
		other := base
		change(&other)
		if fingerprint(base) == fingerprint(other) {
			t.Errorf("fingerprint did not change with the %s", name)
		}
	}
}

func TestSARIFURI(t *testing.T) {
	tests := []struct{ file, want string }{
		{"manifests/web.yaml", "manifests/web.yaml"},
		{"./manifests/web.yaml", "manifests/web.yaml"},
		{"-", "stdin"},
		{"<stdin>", "stdin"},
		{"my manifests/web.yaml", "my%20manifests/web.yaml"},
		{"/srv/repo/web.yaml", "file:///srv/repo/web.yaml"},
	}
	for _, tt := range tests {
		if got := sarifURI(tt.file); got != tt.want {
			t.Errorf("sarifURI(%q) = %q, want %q", tt.file, got, tt.want)
		}
	}
}

// junitDoc reads JUnit XML independently of the writer's structs.
type junitDoc struct {
	XMLName  xml.Name `xml:"testsuites"`
	Name     string   `xml:"name,attr"`
	Tests    int      `xml:"tests,attr"`
	Failures int      `xml:"failures,attr"`
	Suites   []struct {
		Name     string `xml:"name,attr"`
		Tests    int    `xml:"tests,attr"`
		Failures int    `xml:"failures,attr"`
		Cases    []struct {
			ClassName string `xml:"classname,attr"`
			Name      string `xml:"name,attr"`
			Failures  []struct {
				Type    string `xml:"type,attr"`
				Message string `xml:"message,attr"`
				Text    string `xml:",chardata"`
			} `xml:"failure"`
			SystemOut string `xml:"system-out"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

func parseJUnit(t *testing.T, out []byte) junitDoc {
	t.Helper()
	var doc junitDoc
	if err := xml.Unmarshal(out, &doc); err != nil {
		t.Fatalf("output is not well-formed JUnit XML: %v\n%s", err, out)
	}
	return doc
}

func TestJUnit(t *testing.T) {
	for _, tc := range testReports(t) {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.report
			doc := parseJUnit(t, render(t, "junit", r))
			if doc.Name != "headless-guard" {
				t.Errorf("testsuites name %q", doc.Name)
			}
			denied := map[junitKey]bool{}
			for _, f := range r.Findings {
				if f.Action == rules.ActionDeny {
					denied[junitKey{f.Object, displayFile(f.File)}] = true
				}
			}
			var cases, failures int
			var names []string
			for _, s := range doc.Suites {
				suiteFailures := 0
				for _, c := range s.Cases {
					cases++
					names = append(names, c.ClassName+" "+c.Name)
					if c.ClassName != s.Name {
						t.Errorf("testcase %q classname %q, want its file %q", c.Name, c.ClassName, s.Name)
					}
					if len(c.Failures) > 1 {
						t.Errorf("testcase %q has %d failure elements, want all deny findings in one", c.Name, len(c.Failures))
					}
					if len(c.Failures) > 0 {
						suiteFailures++
						if c.Failures[0].Type == "" || c.Failures[0].Message == "" || c.Failures[0].Text == "" {
							t.Errorf("testcase %q failure lacks type, message or text: %+v", c.Name, c.Failures[0])
						}
					}
				}
				if s.Tests != len(s.Cases) || s.Failures != suiteFailures {
					t.Errorf("suite %q says tests=%d failures=%d, has %d cases, %d failing", s.Name, s.Tests, s.Failures, len(s.Cases), suiteFailures)
				}
				failures += suiteFailures
			}
			var want []string
			listed := map[string]bool{}
			for _, o := range r.Objects {
				want = append(want, displayFile(o.File)+" "+o.Ref.String())
				listed[want[len(want)-1]] = true
			}
			// A notice about an object the report does not list (the
			// definition another one shadows) is a test case of its own.
			for _, n := range r.Notices {
				if c := displayFile(n.File) + " " + n.Object.String(); !listed[c] {
					want = append(want, c)
					listed[c] = true
				}
			}
			if diff := cmp.Diff(want, names); diff != "" {
				t.Errorf("test cases are not one per object, in input order (-want +got):\n%s", diff)
			}
			if failures != len(denied) || doc.Failures != len(denied) || doc.Tests != cases {
				t.Errorf("failures: %d elements, attribute %d, want %d objects with a deny finding; tests attribute %d, %d cases",
					failures, doc.Failures, len(denied), doc.Tests, cases)
			}
		})
	}
}

func TestJUnitWarningsAndSkipsAreOutputNotFailures(t *testing.T) {
	nginx := svc("default", "nginx")
	r := &Report{
		Objects: []Object{{Ref: nginx, Location: Location{File: "web.yaml", Line: 30}, Skipped: []string{"HG005"}}},
		Findings: []Finding{finding(t, "HG008", rules.ActionWarn, nginx,
			field.Invalid(field.NewPath("spec", "selector"), "app=nginx", "must select only StatefulSet `web`"), "web.yaml", 36)},
	}
	doc := parseJUnit(t, render(t, "junit", r))
	c := doc.Suites[0].Cases[0]
	if len(c.Failures) != 0 || doc.Failures != 0 {
		t.Errorf("a warning failed the test case: %+v", c.Failures)
	}
	for _, want := range []string{"HG008", "must select only StatefulSet `web`", "HG005"} {
		if !strings.Contains(c.SystemOut, want) {
			t.Errorf("system-out lacks %q:\n%s", want, c.SystemOut)
		}
	}
}

func TestJUnitFindingOnUnlistedObjectIsNotLost(t *testing.T) {
	r := &Report{
		Objects: []Object{{Ref: sts("default", "web"), Location: Location{File: "web.yaml", Line: 1}}},
		Findings: []Finding{finding(t, "HG002", rules.ActionDeny, sts("default", "db"),
			notFound(serviceNamePath, "db", "must name an existing Service"), "db.yaml", 3)},
	}
	doc := parseJUnit(t, render(t, "junit", r))
	if doc.Tests != 2 || doc.Failures != 1 {
		t.Errorf("tests=%d failures=%d, want 2 and 1:\n%+v", doc.Tests, doc.Failures, doc)
	}
}

func TestWrite(t *testing.T) {
	for _, format := range append([]string{"JSON", " text "}, Formats...) {
		if err := Write(&bytes.Buffer{}, format, &Report{}); err != nil {
			t.Errorf("Write(%q) on an empty report: %v", format, err)
		}
	}

	var buf bytes.Buffer
	err := Write(&buf, "yaml", &Report{})
	if err == nil {
		t.Fatal(`Write("yaml") succeeded`)
	}
	for _, f := range Formats {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("error %q does not name the valid format %q", err, f)
		}
	}

	invalid := map[string]*Report{
		"nil report":               nil,
		"finding without rule":     {Findings: []Finding{{Finding: rules.Finding{Error: field.Required(serviceNamePath, "")}}}},
		"finding without an error": {Findings: []Finding{{Finding: rules.Finding{Rule: mustRule(t, "HG001")}}}},
	}
	for name, r := range invalid {
		buf.Reset()
		if err := Write(&buf, "json", r); err == nil || buf.Len() != 0 {
			t.Errorf("%s: Write = %v and wrote %d bytes, want an error and no output", name, err, buf.Len())
		}
	}
}

func TestJUnitDuplicateObjectFailsOnce(t *testing.T) {
	web := sts("default", "web")
	r := &Report{
		Objects: []Object{
			{Ref: web, Location: Location{File: "web.yaml", Line: 1}},
			{Ref: web, Location: Location{File: "web.yaml", Line: 40}},
		},
		Findings: []Finding{finding(t, "HG002", rules.ActionDeny, web,
			notFound(serviceNamePath, "nginx", "must name an existing Service"), "web.yaml", 12)},
	}
	doc := parseJUnit(t, render(t, "junit", r))
	if doc.Tests != 2 || doc.Failures != 1 || len(doc.Suites[0].Cases[0].Failures) != 1 {
		t.Errorf("tests=%d failures=%d, want 2 cases with the finding on the first:\n%+v", doc.Tests, doc.Failures, doc)
	}
}

// TestNoticesAreWarnings: notices are in every format, as warnings: they
// fail no JUnit test case and count apart from the rules' findings.
func TestNoticesAreWarnings(t *testing.T) {
	var rep *Report
	for _, tc := range testReports(t) {
		if tc.name == "notices" {
			rep = tc.report
		}
	}
	if s := rep.Summarize(); s.Deny != 0 || s.Warn != 0 || s.Notices != 3 {
		t.Fatalf("summary %+v, want 0 deny, 0 warn, 3 notices", s)
	}
	text := string(render(t, "text", rep))
	for _, want := range []string{
		"charts/etcd.yaml:9: warn duplicate-key: StatefulSet default/etcd: `metadata` is set twice, at lines 3 and 9",
		"charts/all.yaml:40: warn duplicate-object: Service default/db: defined again at charts/db.yaml:1",
		"charts/db.yaml:20: warn not-checked: StatefulSet default/cache: the rules did not evaluate it: `apiVersion: apps/v1beta2`",
		"3 objects checked: 0 deny, 0 warn, 3 notices",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text output lacks %q:\n%s", want, text)
		}
	}

	var j struct {
		Notices []struct {
			Reason, Severity, File string
			Line                   int
			Related                []struct{ File string }
		}
	}
	if err := json.Unmarshal(render(t, "json", rep), &j); err != nil {
		t.Fatal(err)
	}
	if len(j.Notices) != 3 || j.Notices[1].Reason != NoticeDuplicateObject || j.Notices[1].Severity != "warn" || j.Notices[1].Line != 40 || len(j.Notices[1].Related) != 1 || j.Notices[1].Related[0].File != "charts/db.yaml" {
		t.Errorf("JSON notices: %+v", j.Notices)
	}

	var sarif struct {
		Runs []struct {
			Tool struct {
				Driver struct{ Rules []struct{ ID string } }
			}
			Results []struct {
				RuleID           string
				RuleIndex        int
				Level            string
				RelatedLocations []struct{ ID int }
			}
		}
	}
	if err := json.Unmarshal(render(t, "sarif", rep), &sarif); err != nil {
		t.Fatal(err)
	}
	run := sarif.Runs[0]
	if len(run.Results) != 3 {
		t.Fatalf("%d SARIF results, want 3", len(run.Results))
	}
	for _, res := range run.Results {
		if res.Level != "warning" || run.Tool.Driver.Rules[res.RuleIndex].ID != res.RuleID {
			t.Errorf("SARIF result %+v: level must be warning and ruleIndex must name its rule", res)
		}
	}
	if r := run.Results[1]; len(r.RelatedLocations) != 1 || r.RelatedLocations[0].ID != 1 {
		t.Errorf("duplicate-object: related locations %+v, want the other definition", r.RelatedLocations)
	}

	var junit junitTestSuites
	if err := xml.Unmarshal(render(t, "junit", rep), &junit); err != nil {
		t.Fatal(err)
	}
	if junit.Failures != 0 {
		t.Errorf("JUnit: %d failures, want none: notices are warnings", junit.Failures)
	}
	var out strings.Builder
	for _, s := range junit.Suites {
		for _, c := range s.Cases {
			if c.SystemOut != nil {
				out.WriteString(c.SystemOut.Text)
			}
		}
	}
	for _, reason := range []string{NoticeDuplicateKey, NoticeDuplicateObject, NoticeNotChecked} {
		if !strings.Contains(out.String(), "warn "+reason+":") {
			t.Errorf("JUnit output lacks the %s notice:\n%s", reason, out.String())
		}
	}
}

// TestWarnBecause: a finding the policy made a warning says why, in the
// text a person reads and in the JSON a pipeline reads, as the webhook's
// warning does; one that was not capped says nothing more.
func TestWarnBecause(t *testing.T) {
	obj := rules.ObjectRef{APIVersion: "apps/v1", Kind: "StatefulSet", Namespace: "default", Name: "web"}
	capped := finding(t, rules.HG002, rules.ActionWarn, obj, field.NotFound(field.NewPath("spec", "serviceName"), "nginx"), "web.yaml", 3)
	capped.Reason = "nothing in the pod template uses the per-pod names"
	plain := finding(t, rules.HG001, rules.ActionWarn, obj, field.Required(field.NewPath("spec", "serviceName"), ""), "web.yaml", 3)
	rep := &Report{Findings: []Finding{capped, plain}}

	text := string(render(t, "text", rep))
	if !strings.Contains(text, "(a warning, not a denial: nothing in the pod template uses the per-pod names)") {
		t.Errorf("text does not say why HG002 only warns:\n%s", text)
	}
	if strings.Count(text, "a warning, not a denial") != 1 {
		t.Errorf("only the capped finding says why:\n%s", text)
	}
	var doc struct {
		Findings []map[string]any `json:"findings"`
	}
	if err := json.Unmarshal(render(t, "json", rep), &doc); err != nil {
		t.Fatal(err)
	}
	if got := doc.Findings[0]["warnBecause"]; got != capped.Reason {
		t.Errorf("warnBecause = %v, want %q", got, capped.Reason)
	}
	if _, has := doc.Findings[1]["warnBecause"]; has {
		t.Errorf("a finding that was not capped has warnBecause: %v", doc.Findings[1])
	}
}
