package deploy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/yaml"

	"github.com/headless-guard/headless-guard/test/framework"
)

// TestChartNetworkPolicy: the chart's NetworkPolicy is on by default and
// lets no pod reach the health port, nor the metrics port unless scrapers
// are listed; an empty webhookFrom, which would admit every peer, is
// refused; and the ServiceMonitor verifies the metrics certificate.
func TestChartNetworkPolicy(t *testing.T) {
	var np *networkingv1.NetworkPolicy
	for _, d := range parseDocs(t, mustHelm(t, "", "template", releaseName, chartDir, "--namespace", framework.GuardNamespace)) {
		if d.GVK.Kind == "NetworkPolicy" {
			np = &networkingv1.NetworkPolicy{}
			if err := yaml.UnmarshalStrict(d.Raw, np); err != nil {
				t.Fatal(err)
			}
		}
	}
	if np == nil {
		t.Fatal("the default render has no NetworkPolicy")
	}
	var ports []int32
	for _, rule := range np.Spec.Ingress {
		if len(rule.From) == 0 {
			t.Errorf("an ingress rule without peers admits every pod: %+v", rule)
		}
		for _, p := range rule.Ports {
			ports = append(ports, p.Port.IntVal)
		}
	}
	if len(ports) != 1 || ports[0] != 9443 || len(np.Spec.PolicyTypes) != 1 || np.Spec.PolicyTypes[0] != networkingv1.PolicyTypeIngress {
		t.Errorf("ports open to pods %v, policy types %v: want 9443 only, Ingress (8081 and 8443 closed)", ports, np.Spec.PolicyTypes)
	}
	scraped := mustHelm(t, "", "template", releaseName, chartDir, "--namespace", framework.GuardNamespace,
		"--set", "networkPolicy.metricsFrom[0].namespaceSelector.matchLabels.team=monitoring")
	if !strings.Contains(scraped, "port: 8443") {
		t.Errorf("with metricsFrom, 8443 is not opened to it")
	}

	empty := filepath.Join(t.TempDir(), "empty.yaml")
	if err := os.WriteFile(empty, []byte("networkPolicy:\n  enabled: true\n  webhookFrom: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"--set", "networkPolicy.webhookFrom=null"}, {"-f", empty}} {
		if _, stderr, err := helm(t, "", append([]string{"template", releaseName, chartDir, "--namespace", framework.GuardNamespace}, args...)...); err == nil {
			t.Errorf("%v: rendered, want refused (an empty webhookFrom admits every peer)", args)
		} else {
			t.Logf("%v: %s", args[0], strings.TrimSpace(stderr))
		}
	}

	sm := mustHelm(t, "", "template", releaseName, chartDir, "--namespace", framework.GuardNamespace, "--set", "metrics.serviceMonitor.enabled=true")
	if strings.Contains(sm, "insecureSkipVerify") || !strings.Contains(sm, "serverName: headless-guard-webhook."+framework.GuardNamespace+".svc") {
		t.Errorf("the ServiceMonitor does not verify the metrics certificate:\n%s", framework.GrepLines(sm, "tlsConfig"))
	}
}
