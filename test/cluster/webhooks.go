package cluster

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// readWebhooks reads the webhook configurations in paths (files, or
// directories of .yaml, .yml and .json files, as envtest reads them) and
// points every service clientConfig at https://host:port<path>.
//
// envtest would join host and path itself as "https://%s/%s", which gives
// "https://127.0.0.1:PORT//validate/statefulsets" for the absolute paths a
// Service clientConfig holds. kube-apiserver v1.37's webhook client happens
// to clean that path before calling (TestWebhooksAreCalledWithoutRedirect
// sees every call at "/validate/..." answered 200), but an exact-path mux
// answers "//validate/..." with a redirect, and the URL is not the one a
// real installation's API server calls. Here every webhook is registered
// at exactly its Service path.
func readWebhooks(paths []string, host string, port int) ([]*admissionregistrationv1.MutatingWebhookConfiguration, []*admissionregistrationv1.ValidatingWebhookConfiguration, error) {
	var mut []*admissionregistrationv1.MutatingWebhookConfiguration
	var val []*admissionregistrationv1.ValidatingWebhookConfiguration
	var files []string
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, nil, err
		}
		if !fi.IsDir() {
			files = append(files, p)
			continue
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			return nil, nil, err
		}
		for _, e := range entries {
			switch filepath.Ext(e.Name()) {
			case ".yaml", ".yml", ".json":
				files = append(files, filepath.Join(p, e.Name()))
			}
		}
	}
	base := "https://" + net.JoinHostPort(host, strconv.Itoa(port))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, nil, err
		}
		r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
		for {
			doc, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, nil, fmt.Errorf("%s: %w", f, err)
			}
			var meta metav1.TypeMeta
			if err := yaml.Unmarshal(doc, &meta); err != nil {
				return nil, nil, fmt.Errorf("%s: %w", f, err)
			}
			if meta.APIVersion != admissionregistrationv1.SchemeGroupVersion.String() {
				continue
			}
			switch meta.Kind {
			case "MutatingWebhookConfiguration":
				var cfg admissionregistrationv1.MutatingWebhookConfiguration
				if err := yaml.UnmarshalStrict(doc, &cfg); err != nil {
					return nil, nil, fmt.Errorf("%s: %w", f, err)
				}
				for i := range cfg.Webhooks {
					localURL(&cfg.Webhooks[i].ClientConfig, base)
				}
				mut = append(mut, &cfg)
			case "ValidatingWebhookConfiguration":
				var cfg admissionregistrationv1.ValidatingWebhookConfiguration
				if err := yaml.UnmarshalStrict(doc, &cfg); err != nil {
					return nil, nil, fmt.Errorf("%s: %w", f, err)
				}
				for i := range cfg.Webhooks {
					localURL(&cfg.Webhooks[i].ClientConfig, base)
				}
				val = append(val, &cfg)
			}
		}
	}
	return mut, val, nil
}

// localURL replaces a service clientConfig by the URL the API server
// would call it at: base, then the service's path ("/" when none).
func localURL(cc *admissionregistrationv1.WebhookClientConfig, base string) {
	if cc.Service == nil {
		return
	}
	path := "/"
	if cc.Service.Path != nil {
		path = *cc.Service.Path
	}
	url := base + path
	cc.URL, cc.Service = &url, nil
}
