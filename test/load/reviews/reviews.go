// Package reviews holds AdmissionReviews recorded from a real kube-apiserver
// (`go run ./hack/benchwebhook -record`), one per webhook path and
// operation headless-guard serves, and the objects they refer to. The
// handler micro-benchmarks (webhook/*_bench_test.go) and the load generator
// (test/load) replay them.
package reviews

import (
	"embed"
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strings"
)

//go:embed testdata
var files embed.FS

// Namespace is where the fixtures and the recorded objects live.
const Namespace = "bench"

// Review is one recorded AdmissionReview.
type Review struct {
	// Name is the file name without .json, e.g. "statefulset-create-validate".
	Name string
	// Path is the webhook path the API server posted it to.
	Path string
	// Body is the AdmissionReview exactly as the API server sent it.
	Body []byte
	// Allowed is what headless-guard (default flags, fixtures applied)
	// answers; Warned is true when it also returns warnings.
	Allowed, Warned bool
	// Minimal marks the smallest review the API server sends on its path
	// (names "min-..."): seed 000's objects created with `kubectl create`,
	// managedFields cut out. They show the fixed cost per request that
	// decoding hides in the others.
	Minimal bool
}

// expect is what headless-guard answers each recorded review with.
var expect = map[string]struct {
	path            string
	allowed, warned bool
}{
	"service-create-validate":            {"/validate/services", true, false},
	"statefulset-create-mutate":          {"/mutate/statefulsets", true, false},
	"statefulset-create-validate":        {"/validate/statefulsets", true, false},
	"statefulset-update-validate":        {"/validate/statefulsets", true, false},
	"service-update-validate":            {"/validate/services", true, false},
	"statefulset-create-denied-validate": {"/validate/statefulsets", false, true},
	"deployment-create-validate":         {"/validate/workloads", true, false},
	"service-create-mutate":              {"/mutate/services", true, false},
	"service-delete-validate":            {"/validate/services", true, true},
	// The minimal reviews: one per path.
	"min-statefulset-create-validate": {"/validate/statefulsets", true, false},
	"min-statefulset-create-mutate":   {"/mutate/statefulsets", true, false},
	"min-service-create-validate":     {"/validate/services", true, false},
	"min-service-create-mutate":       {"/mutate/services", true, false},
	"min-pod-create-validate":         {"/validate/workloads", true, false},
}

// MinimalPrefix starts the names of the minimal reviews.
const MinimalPrefix = "min-"

// All returns every recorded review, sorted by name.
func All() ([]Review, error) {
	entries, err := files.ReadDir("testdata")
	if err != nil {
		return nil, err
	}
	var out []Review
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		x, known := expect[name]
		if !known {
			return nil, fmt.Errorf("recorded review %s has no expectation in reviews.go", e.Name())
		}
		body, err := files.ReadFile(path.Join("testdata", e.Name()))
		if err != nil {
			return nil, err
		}
		if !json.Valid(body) {
			return nil, fmt.Errorf("recorded review %s is not valid JSON", e.Name())
		}
		out = append(out, Review{Name: name, Path: x.path, Body: body, Allowed: x.allowed, Warned: x.warned, Minimal: strings.HasPrefix(name, MinimalPrefix)})
	}
	if len(out) != len(expect) {
		return nil, fmt.Errorf("%d recorded reviews, want %d: run `go run ./hack/benchwebhook -record`", len(out), len(expect))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Split returns the recorded reviews of rs and the minimal ones apart.
func Split(rs []Review) (recorded, minimal []Review) {
	for _, r := range rs {
		if r.Minimal {
			minimal = append(minimal, r)
		} else {
			recorded = append(recorded, r)
		}
	}
	return recorded, minimal
}

// Names are the reviews the recorder must capture, sorted.
func Names() []string {
	out := make([]string, 0, len(expect))
	for n := range expect {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// PathOf is the webhook path of a review name.
func PathOf(name string) string { return expect[name].path }

// Fixtures is the multi-document YAML of the objects the reviews refer to,
// to apply before replaying them.
func Fixtures() []byte {
	data, err := files.ReadFile("testdata/fixtures.yaml")
	if err != nil {
		panic(err) // embedded: cannot fail
	}
	return data
}
