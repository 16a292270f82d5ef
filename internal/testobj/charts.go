package testobj

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/headless-guard/headless-guard/rules"
)

// PublicCharts returns the objects of rules.Kinds in the rendered public
// charts of dir (internal/check/testdata/publiccharts), each file's in a
// namespace named after the file. Kinds the client-go scheme does not know
// (a CRD's) are skipped.
func PublicCharts(dir string) ([]client.Object, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("no rendered charts in %s: %v", dir, err)
	}
	var out []client.Object
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		ns := strings.TrimSuffix(filepath.Base(f), ".yaml")
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
		for {
			var raw runtime.RawExtension
			if err := dec.Decode(&raw); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			if len(bytes.TrimSpace(raw.Raw)) == 0 || string(bytes.TrimSpace(raw.Raw)) == "null" {
				continue
			}
			obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(raw.Raw, nil, nil)
			if err != nil {
				continue // a kind the scheme does not know (a CRD's)
			}
			co, ok := obj.(client.Object)
			if !ok || rules.KindInfoOf(obj) == nil {
				continue
			}
			co.SetNamespace(ns)
			out = append(out, co)
		}
	}
	return out, nil
}
