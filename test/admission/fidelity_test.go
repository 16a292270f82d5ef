package admission

import (
	"encoding/json"
	"encoding/xml"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/headless-guard/headless-guard/internal/manifest"
	"github.com/headless-guard/headless-guard/test/framework"
)

// kubectlFixtures are the manifests issue 12 found read otherwise than
// kubectl reads them (internal/check/testdata/kubectl).
const kubectlFixtures = "../../internal/check/testdata/kubectl"

// TestLoaderReadsWhatKubectlReads gives each fixture to the real kubectl
// (`create --dry-run=client -o json`: what kubectl would send, nothing
// stored) and to the loader behind `check`: the same objects, the same
// values. YAML 1.1 scalars (`yes`, `0x3`) and the last of two `metadata:`
// keys are where they differed.
func TestLoaderReadsWhatKubectlReads(t *testing.T) {
	guardMu.Lock()
	defer guardMu.Unlock()
	c := guard(t)
	for _, path := range []string{"etcd-duplicate-metadata.yaml", "publish-not-ready-yes.yaml", "duplicate-service"} {
		t.Run(path, func(t *testing.T) {
			full := filepath.Join(kubectlFixtures, path)
			out := framework.MustKubectl(t, c, nil, "create", "--dry-run=client", "-o", "json", "-n", "default", "-f", full)
			// One JSON object per object read, one after the other.
			var sent []runtime.Object
			dec := json.NewDecoder(strings.NewReader(out))
			for dec.More() {
				var raw json.RawMessage
				if err := dec.Decode(&raw); err != nil {
					t.Fatalf("kubectl printed no JSON: %v\n%s", err, out)
				}
				sent = append(sent, decodeTyped(t, raw))
			}
			set, err := manifest.Load([]string{full}, manifest.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if len(set.Objects) != len(sent) {
				t.Fatalf("kubectl read %d objects, the loader %d", len(sent), len(set.Objects))
			}
			for i, o := range set.Objects {
				if !apiequality.Semantic.DeepEqual(sent[i], o.Typed) {
					t.Errorf("%s differs from what kubectl sends (-kubectl +loader):\n%s", o.Ref, cmp.Diff(sent[i], o.Typed))
				}
			}
		})
	}
	// A version no API server serves: kubectl refuses it, check says it
	// did not evaluate it (TestCheckReportsWhatRulesCannotSee).
	_, stderr, err := framework.Kubectl(t, c, nil, "create", "--dry-run=client", "-o", "json", "-f", filepath.Join(chartFixtures, "memcached-apps-v1beta2.yaml"))
	if err == nil || !strings.Contains(stderr, `no matches for kind "StatefulSet" in version "apps/v1beta2"`) {
		t.Errorf("kubectl create apps/v1beta2: err %v, want no matches for kind\n%s", err, stderr)
	}
}

// decodeTyped decodes an object kubectl printed as the loader decodes it
// for the rules, namespace defaulted.
func decodeTyped(t *testing.T, raw json.RawMessage) runtime.Object {
	t.Helper()
	var tm metav1.TypeMeta
	if err := json.Unmarshal(raw, &tm); err != nil {
		t.Fatal(err)
	}
	var obj runtime.Object
	switch tm.Kind {
	case "Service":
		obj = &corev1.Service{}
	case "StatefulSet":
		obj = &appsv1.StatefulSet{}
	default:
		t.Fatalf("kubectl printed a %s; the fixtures hold Services and StatefulSets", tm.Kind)
	}
	if err := json.Unmarshal(raw, obj); err != nil {
		t.Fatal(err)
	}
	if m := obj.(metav1.Object); m.GetNamespace() == "" {
		m.SetNamespace("default")
	}
	return obj
}

// TestCheckReportsWhatRulesCannotSee runs the binary on issue 12's inputs
// in every output format: a duplicate key, a duplicate object and an
// unserved version are reported as warnings, which leave the exit status
// to the rules.
func TestCheckReportsWhatRulesCannotSee(t *testing.T) {
	cases := []struct {
		name   string
		args   []string
		code   int
		reason string // the notice every format must carry; "" for none
		where  string // its file:line
	}{
		{"two metadata keys check as kubectl reads them",
			[]string{filepath.Join(kubectlFixtures, "etcd-duplicate-metadata.yaml")}, 0,
			"duplicate-key", filepath.Join(kubectlFixtures, "etcd-duplicate-metadata.yaml") + ":11"},
		{"publishNotReadyAddresses: yes checks clean, HG009 on",
			[]string{"--rule", "HG009=deny", filepath.Join(kubectlFixtures, "publish-not-ready-yes.yaml")}, 0, "", ""},
		{"a duplicate Service: the last one decides (strict: a ClusterIP Service denies)",
			[]string{"--policy", "strict", filepath.Join(kubectlFixtures, "duplicate-service")}, 1,
			"duplicate-object", filepath.Join(kubectlFixtures, "duplicate-service", "a-release.yaml") + ":5"},
		{"an apps/v1beta2 StatefulSet",
			[]string{filepath.Join(chartFixtures, "memcached-apps-v1beta2.yaml")}, 0,
			"not-checked", filepath.Join(chartFixtures, "memcached-apps-v1beta2.yaml") + ":28"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, format := range []string{"text", "json", "sarif", "junit"} {
				args := []string{"check", "-o", format}
				if format == "sarif" {
					// The repository root, named: outside a git checkout
					// (a release tarball) the default is the working
					// directory.
					args = append(args, "--sarif-base", filepath.Join("..", ".."))
				}
				r := framework.Run(t, nil, append(args, tc.args...)...)
				if r.Code != tc.code {
					t.Fatalf("-o %s: exit %d, want %d\n%s%s", format, r.Code, tc.code, r.Stdout, r.Stderr)
				}
				got := noticesIn(t, format, r.Stdout)
				var want []string
				if tc.reason != "" {
					want = []string{tc.reason + " " + tc.where}
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("-o %s: notices (-want +got):\n%s\n%s", format, diff, r.Stdout)
				}
			}
		})
	}
}

// noticesIn lists "reason file:line" of each notice of a report.
func noticesIn(t *testing.T, format, out string) []string {
	t.Helper()
	var got []string
	switch format {
	case "text":
		for _, line := range strings.Split(out, "\n") {
			// file:line: warn <reason>: …
			if i := strings.Index(line, ": warn "); i > 0 {
				reason := strings.SplitN(line[i+len(": warn "):], ":", 2)[0]
				if !strings.HasPrefix(reason, "HG") {
					got = append(got, reason+" "+line[:i])
				}
			}
		}
	case "json":
		var rep struct {
			Notices []struct {
				Reason, Severity, File string
				Line                   int
			}
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatal(err)
		}
		for _, n := range rep.Notices {
			if n.Severity != "warn" {
				t.Errorf("notice %s has severity %q, want warn", n.Reason, n.Severity)
			}
			got = append(got, n.Reason+" "+n.File+":"+strconv.Itoa(n.Line))
		}
	case "sarif":
		var log struct {
			Runs []struct {
				Results []struct {
					RuleID    string
					Level     string
					Locations []struct {
						PhysicalLocation struct {
							ArtifactLocation struct{ URI string }
							Region           struct{ StartLine int }
						}
					}
				}
			}
		}
		if err := json.Unmarshal([]byte(out), &log); err != nil {
			t.Fatal(err)
		}
		for _, r := range log.Runs[0].Results {
			if strings.HasPrefix(r.RuleID, "HG") {
				continue
			}
			if r.Level != "warning" {
				t.Errorf("notice %s has level %q, want warning", r.RuleID, r.Level)
			}
			l := r.Locations[0].PhysicalLocation
			// SARIF names files from the repository root (test/admission is two down).
			got = append(got, r.RuleID+" ../../"+l.ArtifactLocation.URI+":"+strconv.Itoa(l.Region.StartLine))
		}
	case "junit":
		var suites struct {
			Suites []struct {
				Cases []struct {
					Failure   *struct{} `xml:"failure"`
					SystemOut string    `xml:"system-out"`
				} `xml:"testcase"`
			} `xml:"testsuite"`
		}
		if err := xml.Unmarshal([]byte(out), &suites); err != nil {
			t.Fatal(err)
		}
		for _, s := range suites.Suites {
			for _, c := range s.Cases {
				got = append(got, noticesIn(t, "text", c.SystemOut)...)
			}
		}
	}
	return got
}
