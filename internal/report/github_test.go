package report

import (
	"encoding/json"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

func TestGitHubEscaping(t *testing.T) {
	cases := []struct{ name, in, data, prop string }{
		{"plain", "web.yaml", "web.yaml", "web.yaml"},
		{"percent first", "100%\n", "100%25%0A", "100%25%0A"},
		{"colon and comma end a property only", "a:b,c", "a:b,c", "a%3Ab%2Cc"},
		{"carriage return", "a\r\nb", "a%0D%0Ab", "a%0D%0Ab"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := escapeData(tc.in); got != tc.data {
				t.Errorf("escapeData(%q) = %q, want %q", tc.in, got, tc.data)
			}
			if got := escapeProperty(tc.in); got != tc.prop {
				t.Errorf("escapeProperty(%q) = %q, want %q", tc.in, got, tc.prop)
			}
		})
	}
}

func TestGitHubAnnotations(t *testing.T) {
	root := t.TempDir()
	r := &Report{
		Root:     root,
		Objects:  make([]Object, 2),
		Findings: []Finding{finding(t, "HG002", "deny", sts("default", "web"), notFound(field.NewPath("spec", "serviceName"), "nginx", "must name an existing Service"), root+"/envs/prod/app,1.yaml", 12)},
		Skipped:  []Skipped{{Location: Location{File: "-"}, Reason: "not a manifest"}},
	}
	out := string(render(t, "github", r))
	lines := strings.Split(strings.TrimSpace(out), "\n")
	want := "::error file=envs/prod/app%2C1.yaml,line=12,title=HG002 service-exists::StatefulSet default/web: spec.serviceName: Not found: \"nginx\": must name an existing Service%0Afix: "
	if len(lines) != 3 || !strings.HasPrefix(lines[1], want) {
		t.Fatalf("annotations:\n%s\nwant the second line to start with\n%s", out, want)
	}
	if lines[0] != "::notice title=skipped::not a manifest" {
		t.Errorf("skipped standard input: %q, want no file property", lines[0])
	}
	if lines[2] != "2 objects checked: 1 deny, 0 warn, 1 file skipped" {
		t.Errorf("summary %q", lines[2])
	}
}

func TestSARIFRelativeToRoot(t *testing.T) {
	root := t.TempDir()
	r := &Report{
		Root: root,
		Findings: []Finding{
			finding(t, "HG002", "deny", sts("default", "web"), notFound(field.NewPath("spec", "serviceName"), "nginx", "x"), root+"/envs/prod/app.yaml", 3),
			finding(t, "HG002", "deny", sts("default", "db"), notFound(field.NewPath("spec", "serviceName"), "nginx", "x"), "/elsewhere/db.yaml", 3),
		},
	}
	var log struct {
		Runs []struct {
			OriginalURIBaseIDs map[string]struct{ URI string } `json:"originalUriBaseIds"`
			Results            []struct {
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct {
							URI       string `json:"uri"`
							URIBaseID string `json:"uriBaseId"`
						} `json:"artifactLocation"`
					} `json:"physicalLocation"`
				} `json:"locations"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(render(t, "sarif", r), &log); err != nil {
		t.Fatal(err)
	}
	run := log.Runs[0]
	if got, want := run.OriginalURIBaseIDs["%SRCROOT%"].URI, "file://"+root+"/"; got != want {
		t.Errorf("%%SRCROOT%% = %q, want %q", got, want)
	}
	in := run.Results[0].Locations[0].PhysicalLocation.ArtifactLocation
	if in.URI != "envs/prod/app.yaml" || in.URIBaseID != "%SRCROOT%" {
		t.Errorf("file under the root: %+v, want envs/prod/app.yaml relative to %%SRCROOT%%", in)
	}
	out := run.Results[1].Locations[0].PhysicalLocation.ArtifactLocation
	if out.URI != "file:///elsewhere/db.yaml" || out.URIBaseID != "" {
		t.Errorf("file outside the root: %+v, want an absolute URI", out)
	}
}
