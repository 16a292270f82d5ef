package framework

import (
	"bufio"
	"bytes"
	"io"
	"path/filepath"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/headless-guard/headless-guard/test/cluster"
)

// ManifestDoc is one object of a rendered overlay.
type ManifestDoc struct {
	GVK  schema.GroupVersionKind
	Name string
	Raw  []byte
}

// Render runs the real `kubectl kustomize` on an overlay.
func Render(t *testing.T, c *cluster.Cluster, overlay string) []ManifestDoc {
	t.Helper()
	out := MustKubectl(t, c, nil, "kustomize", filepath.Join(c.Root(), "deploy", "overlays", overlay))
	var docs []ManifestDoc
	r := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(out)))
	for {
		raw, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		var meta struct {
			APIVersion string            `json:"apiVersion"`
			Kind       string            `json:"kind"`
			Metadata   metav1.ObjectMeta `json:"metadata"`
		}
		if err := yaml.Unmarshal(raw, &meta); err != nil {
			t.Fatal(err)
		}
		if meta.Kind == "" {
			continue
		}
		docs = append(docs, ManifestDoc{schema.FromAPIVersionAndKind(meta.APIVersion, meta.Kind), meta.Metadata.Name, raw})
	}
	return docs
}

// Join is the documents for which keep is true, as one YAML stream.
func Join(docs []ManifestDoc, keep func(ManifestDoc) bool) []byte {
	var buf bytes.Buffer
	for _, d := range docs {
		if keep(d) {
			buf.WriteString("---\n")
			buf.Write(d.Raw)
		}
	}
	return buf.Bytes()
}

// IsWebhookConfiguration: the chart's ValidatingAdmissionPolicy on the
// guard's own ServiceAccount is not one, and is applied with the rest.
func IsWebhookConfiguration(d ManifestDoc) bool {
	return d.GVK.Group == admissionregistrationv1.GroupName && strings.HasSuffix(d.GVK.Kind, "WebhookConfiguration")
}

// SaKubeconfig writes a kubeconfig that authenticates as ServiceAccount
// ns/name with a token from the TokenRequest API, and returns it with a
// client acting as that identity.
func SaKubeconfig(t *testing.T, c *cluster.Cluster, ns, name string) (string, client.Client, string) {
	t.Helper()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	expiry := int64(3600)
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &expiry}}
	if err := c.Client().SubResource("token").Create(t.Context(), sa, tr); err != nil {
		t.Fatalf("requesting a token for %s/%s: %v", ns, name, err)
	}
	admin := c.Config()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: admin.Host, CertificateAuthorityData: admin.CAData}
	kc.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	kc.Contexts[name] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: name}
	kc.CurrentContext = name
	path := filepath.Join(t.TempDir(), name+".kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	cfg := &rest.Config{Host: admin.Host, TLSClientConfig: rest.TLSClientConfig{CAData: admin.CAData}, BearerToken: tr.Status.Token}
	cl, err := client.New(cfg, client.Options{Scheme: scheme.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	return path, cl, tr.Status.Token
}
