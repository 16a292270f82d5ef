package node

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/headless-guard/headless-guard/test/cluster"
	"github.com/headless-guard/headless-guard/test/framework"
)

// seed reads a manifest of rules/testdata/seeds/ or of test/e2e/testdata/.
func seed(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", path))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestSeed001NslookupFromAPod reproduces seed 001's session on the node:
// its Service nginx-headless, then the StatefulSet `nginx` whose pods its
// nslookup shows (test/e2e/testdata, the image a local stand-in for
// nginx:alpine), which the guard's pods deny: its Service `nginx` does
// not exist. With that Service created, the StatefulSet is admitted, and
//
//	kubectl run -i --image <toolbox> dnsutils --restart=Never --rm -- nslookup nginx-0.nginx
//
// in namespace default prints what the document shows: CoreDNS's address
// as Server, and nginx-<i>.nginx.default.svc.cluster.local with pod i's IP.
func TestSeed001NslookupFromAPod(t *testing.T) {
	setup(t)
	ns := "default"
	if out, errOut, err := kubectl(seed(t, "rules/testdata/seeds/seed-001-nginx-headless.yaml"), "apply", "-n", ns, "-f", "-"); err != nil {
		t.Fatalf("%v\n%s%s", err, out, errOut)
	}
	sts := strings.Replace(string(seed(t, "test/e2e/testdata/seed-001-nginx-statefulset.yaml")), "image: nginx:alpine", "image: "+toolboxImage, 1)
	if !strings.Contains(sts, toolboxImage) {
		t.Fatal("the seed's StatefulSet names no nginx:alpine image")
	}
	_, errOut, err := kubectl([]byte(sts), "apply", "-n", ns, "-f", "-")
	if err == nil || !strings.Contains(errOut, "HG002") || !strings.Contains(errOut, "nginx-headless") {
		t.Fatalf("StatefulSet nginx with serviceName nginx (no such Service): err %v, want a denial by HG002 naming nginx-headless\n%s", err, errOut)
	}
	t.Logf("kubectl apply of the seed's StatefulSet, denied by the guard's pods:\n%s", errOut)

	service := `apiVersion: v1
kind: Service
metadata:
  name: nginx
spec:
  clusterIP: None
  selector:
    app: nginx
  ports:
  - name: nginx
    port: 80
`
	for _, m := range []string{service, sts} {
		if out, errOut, err := kubectl([]byte(m), "apply", "-n", ns, "-f", "-"); err != nil {
			t.Fatalf("%v\n%s%s", err, out, errOut)
		}
	}
	pods := waitPods(t, ns, map[string]string{"app": "nginx"}, 3)

	var transcript strings.Builder
	for i, p := range pods {
		name := fmt.Sprintf("nginx-%d.nginx", i)
		want := regexp.MustCompile(fmt.Sprintf(`(?m)^Server:         %[1]s\nAddress:        %[1]s#53\nName:   %[2]s\nAddress: %[3]s\n`,
			regexp.QuoteMeta(cluster.NodeGatewayIP), regexp.QuoteMeta(name+".default.svc."+cluster.ClusterDomain), regexp.QuoteMeta(p.Status.PodIP)))
		var out string
		// CoreDNS follows the EndpointSlices within a second or so.
		framework.Eventually(t, podTimeout, "nslookup "+name+" from a pod answering "+p.Status.PodIP, func() (bool, string) {
			var errOut string
			var err error
			out, errOut, err = kubectl(nil, "run", "-i", "--image", toolboxImage, fmt.Sprintf("dnsutils-%d", i), "--restart=Never", "--rm", "-n", ns, "--", "nslookup", name)
			return err == nil && want.MatchString(out), fmt.Sprintf("%v\n%s%s", err, out, errOut)
		})
		// What nslookup printed: from Server: to the blank line after the
		// answer (kubectl adds its own lines around it).
		answer := out[strings.Index(out, "Server:"):]
		if end := strings.Index(answer, "\n\n"); end >= 0 {
			answer = answer[:end+2]
		}
		fmt.Fprintf(&transcript, "/ # nslookup %s\n%s", name, answer)
	}
	t.Logf("seed 001 on the node (kubectl run -i --image %s dnsutils --restart=Never --rm -- nslookup ...):\n%s", toolboxImage, transcript.String())
	fmt.Printf("node: seed 001's nslookup from a pod:\n%s", indent(transcript.String()))
}

// TestReadOnlyRootFilesystem: on the node, a container with
// readOnlyRootFilesystem cannot write under / ("read-only file system"),
// and the same container without it can: the guard's pods run read-only
// (TestGuardRunsAsTheChartsPods) because this node enforces it, so a guard
// binary that wrote under / would never turn Ready there.
func TestReadOnlyRootFilesystem(t *testing.T) {
	n := setup(t)
	ns := "read-only-root"
	createNamespace(t, ns)
	run := func(name string, readOnly bool) (corev1.PodPhase, string) {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever,
				Containers: []corev1.Container{{
					Name: "touch", Image: toolboxImage, Args: []string{"touch", "/written"},
					SecurityContext: &corev1.SecurityContext{ReadOnlyRootFilesystem: &readOnly},
				}},
			},
		}
		// Until the namespace's default ServiceAccount exists, no pod.
		framework.Eventually(t, podTimeout, "creating pod "+name, func() (bool, string) {
			err := n.Client().Create(t.Context(), pod)
			return err == nil, fmt.Sprint(err)
		})
		var phase corev1.PodPhase
		framework.Eventually(t, podTimeout, "pod "+name+" terminated", func() (bool, string) {
			var p corev1.Pod
			if err := n.Client().Get(t.Context(), client.ObjectKeyFromObject(pod), &p); err != nil {
				return false, err.Error()
			}
			phase = p.Status.Phase
			return phase == corev1.PodSucceeded || phase == corev1.PodFailed, fmt.Sprintf("%s %v", phase, p.Status.ContainerStatuses)
		})
		out, errOut, err := kubectl(nil, "logs", "-n", ns, name)
		if err != nil {
			t.Fatalf("kubectl logs %s: %v\n%s", name, err, errOut)
		}
		return phase, strings.TrimSpace(out)
	}
	phase, out := run("read-only", true)
	if phase != corev1.PodFailed || !strings.Contains(out, "read-only file system") {
		t.Errorf("touch /written with readOnlyRootFilesystem: %s, %q; want Failed: read-only file system", phase, out)
	}
	t.Logf("with readOnlyRootFilesystem: %s: %s", phase, out)
	if phase, out := run("writable", false); phase != corev1.PodSucceeded {
		t.Errorf("touch /written without readOnlyRootFilesystem: %s, %q; want Succeeded", phase, out)
	}
}
