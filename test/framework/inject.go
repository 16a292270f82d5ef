package framework

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/headless-guard/headless-guard/test/cluster"
)

// Eventually polls cond every 200ms for up to d.
func Eventually(t *testing.T, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	last := ""
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s did not happen within %v; last state: %s", what, d, last)
}

// GetJSONPath is `kubectl get args -o jsonpath=path`.
func GetJSONPath(t *testing.T, c *cluster.Cluster, path string, args ...string) (string, error) {
	out, errOut, err := Kubectl(t, c, nil, append(append([]string{"get"}, args...), "-o", "jsonpath="+path)...)
	if err != nil {
		return "", fmt.Errorf("%v: %s", err, errOut)
	}
	return out, nil
}

// CheckRejectedLeavesNothing has a later admission step reject a
// StatefulSet in ns, an inject-enabled namespace, and checks that no
// Service appears.
func CheckRejectedLeavesNothing(t *testing.T, c *cluster.Cluster, ns string) {
	t.Helper()
	MustKubectl(t, c, []byte(rejectingPolicy(ns)), "apply", "-f", "-")
	rejected := strings.Replace(StatefulSetYAML("db", "", ""), "metadata:\n  name: db\n", "metadata:\n  name: db\n  labels:\n    reject: \"yes\"\n", 1)
	// Policies take effect a moment after they are created: probe with dry
	// runs (which create nothing), then create for real once.
	Eventually(t, 30*time.Second, "the policy in effect", func() (bool, string) {
		_, stderr, err := Kubectl(t, c, []byte(rejected), "apply", "--dry-run=server", "-n", ns, "-f", "-")
		return err != nil && strings.Contains(stderr, "rejected by a later admission step"), stderr
	})
	var stderr string
	var err error
	created := ServicesCreatedDuring(t, c, 3*time.Second, func() {
		_, stderr, err = Kubectl(t, c, []byte(rejected), "apply", "-n", ns, "-f", "-")
	})
	if err == nil || !strings.Contains(stderr, "rejected by a later admission step") {
		t.Fatalf("the StatefulSet must be rejected by the policy: %v\n%s", err, stderr)
	}
	if len(created) > 0 {
		t.Fatalf("a rejected StatefulSet left Services %v", created)
	}
}

// rejectingPolicy is a later admission step in namespace ns: a
// ValidatingAdmissionPolicy, evaluated after the mutating webhooks, that
// refuses StatefulSets labelled reject=yes.
func rejectingPolicy(ns string) string {
	return fmt.Sprintf(`apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: reject-%[1]s
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
    - apiGroups: ["apps"]
      apiVersions: ["v1"]
      operations: ["CREATE"]
      resources: ["statefulsets"]
  validations:
  - expression: "!has(object.metadata.labels) || !('reject' in object.metadata.labels)"
    message: rejected by a later admission step
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: reject-%[1]s
spec:
  policyName: reject-%[1]s
  validationActions: [Deny]
  matchResources:
    namespaceSelector:
      matchLabels:
        kubernetes.io/metadata.name: %[1]s
`, ns)
}
