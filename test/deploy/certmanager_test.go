package deploy

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/headless-guard/headless-guard/certs"
	"github.com/headless-guard/headless-guard/test/cluster"
	"github.com/headless-guard/headless-guard/test/framework"
)

// TestCertManagerMode installs the chart with `certificates.mode:
// cert-manager` where real cert-manager controllers and cainjector run
// (hack/certmanager, bin/certmanager) and the API server calls the guard
// through the chart's Service, as in a cluster: the Certificates are
// issued, the Secret is mounted (here projected as the kubelet does, there
// being no node), cainjector injects the CA into both webhook
// configurations, and the API server admits and denies through the guard
// with that trust. The guard is the release image's, run as the chart's
// pod would run it (runPod): its user, arguments, environment, volumes,
// ServiceAccount token, read-only root and readiness probe. Then the serving certificate is renewed and the CA
// rotated while StatefulSets and Services are written without pause: none
// of those writes may fail.
func TestCertManagerMode(t *testing.T) {
	// A cluster of its own, mostly waiting on it: beside the other
	// parallel tests (it uses no namespace(), which is not safe for
	// concurrent use).
	t.Parallel()
	root := framework.RepoRoot(t)
	bin := filepath.Join(root, "bin", "certmanager")
	if !framework.FileExists(bin) {
		t.Fatalf("%s not found: run `make bin/certmanager`", bin)
	}
	hostIP := nonLoopbackIPv4(t)
	// Without a node or kube-proxy, the API server reaches a Service's
	// endpoints directly (--enable-aggregator-routing): the guard's, which
	// the test publishes on an address of this machine (an EndpointSlice
	// may not name a loopback address). The API server then verifies the
	// certificate for the Service's DNS name, as in a cluster.
	c := cluster.Setup(t, cluster.Options{APIServerFlags: map[string]string{"enable-aggregator-routing": "true"}})
	ctx := t.Context()
	installCertManagerCRDs(t, c)
	startCertManager(t, c, bin)
	deleteWebhookConfigurations(t, c)

	const ns = "hg-cert-manager"
	kc := c.KubeconfigPath()
	framework.MustKubectl(t, c, nil, "create", "namespace", ns)
	framework.MustKubectl(t, c, nil, "label", "namespace", ns, "pod-security.kubernetes.io/enforce=restricted")
	mustHelm(t, kc, append([]string{"install", releaseName, chartDir, "--namespace", ns}, profileArgs("cert-manager")...)...)
	dep := &appsv1.Deployment{}
	if err := c.Client().Get(ctx, client.ObjectKey{Namespace: ns, Name: "headless-guard"}, dep); err != nil {
		t.Fatal(err)
	}
	// The guard runs from the release's image, as the chart's pod would
	// (runPod), when `make unit` built the image and the test may chroot;
	// otherwise the host's binary runs with the Deployment's arguments.
	files, imageConfig, fromImage := hostImage(t)
	fromImage = fromImage && os.Getuid() == 0
	var rootDir, certDir string
	if fromImage {
		rootDir = t.TempDir()
		extractImage(t, files, rootDir)
		certDir = filepath.Join(rootDir, volumeMountPath(t, dep, "certs"))
	} else {
		t.Log("no release image (make unit builds it) or not root: the host's binary runs instead of the image's")
		certDir = filepath.Join(t.TempDir(), "certs")
	}
	guardPort := publishGuardEndpoint(t, c, dep, hostIP, !fromImage)

	for _, name := range []string{"headless-guard-ca", certs.ServingCertificateName} {
		framework.MustKubectl(t, c, nil, "wait", "-n", ns, "--for=condition=Ready", "--timeout=90s", "certificate/"+name)
	}
	secret := client.ObjectKey{Namespace: ns, Name: certs.DefaultSecretName}
	mountSecret(t, c, secret, certDir)

	t.Run("caBundle injected", func(t *testing.T) {
		ca := secretDataOf(t, c, secret)["ca.crt"]
		framework.Eventually(t, 60*time.Second, "cainjector's caBundle in every webhook", func() (bool, string) {
			bundles := webhookCABundles(t, c)
			for _, b := range bundles {
				if b != string(ca) {
					return false, fmt.Sprintf("%d bundles, one of %d bytes", len(bundles), len(b))
				}
			}
			return len(bundles) == 6, fmt.Sprint(len(bundles), " webhooks")
		})
	})

	kubeconfig, _, token := framework.SaKubeconfig(t, c, ns, "headless-guard")
	stopGuard := func() error { return nil }
	if fromImage {
		stopGuard = runPod(t, c, dep, rootDir, imageConfig, token)
	} else {
		// Ready only once the API server reached it through the Service
		// with the injected bundle.
		g, err := c.StartGuard(ctx, guardArgsOf(t, dep, "--kubeconfig", kubeconfig, "--leader-election-namespace="+ns,
			"--webhook-cert-path="+certDir, "--webhook-host="+hostIP, "--shutdown-delay=0s")...)
		if err != nil {
			t.Fatal(err)
		}
		stopGuard = g.Stop
	}
	guardAddr := net.JoinHostPort(hostIP, strconv.Itoa(int(guardPort)))

	const apps = "hg-cm-apps"
	framework.MustKubectl(t, c, nil, "create", "namespace", apps)
	t.Run("admits and denies", func(t *testing.T) {
		if _, stderr, err := framework.Kubectl(t, c, []byte(framework.StatefulSetYAML("web", "web", "")), "apply", "-n", apps, "-f", "-"); err == nil || !strings.Contains(stderr, "HG002") {
			t.Errorf("want an HG002 denial: %v\n%s", err, stderr)
		}
		framework.MustKubectl(t, c, []byte(framework.ServiceYAML("web", "")+"---\n"+framework.StatefulSetYAML("web", "web", "")), "apply", "-n", apps, "-f", "-")
	})

	w := startWrites(t, c, apps)
	// Writes before, during and after each change.
	time.Sleep(2 * time.Second)
	t.Run("serving certificate renewed", func(t *testing.T) {
		before := leafSerial(t, secretDataOf(t, c, secret)["tls.crt"])
		renewCertificate(t, c, ns, certs.ServingCertificateName)
		renewed := waitSecretLeafChange(t, c, secret, before)
		waitServed(t, guardAddr, renewed)
	})
	t.Run("CA rotated", func(t *testing.T) {
		caSecret := client.ObjectKey{Namespace: ns, Name: "headless-guard-ca"}
		caBefore := leafSerial(t, secretDataOf(t, c, caSecret)["tls.crt"])
		renewCertificate(t, c, ns, "headless-guard-ca")
		waitSecretLeafChange(t, c, caSecret, caBefore)
		// The next serving certificate is signed by the new CA certificate
		// (the same key: rotationPolicy Never), which cainjector then puts
		// into the configurations.
		before := leafSerial(t, secretDataOf(t, c, secret)["tls.crt"])
		renewCertificate(t, c, ns, certs.ServingCertificateName)
		renewed := waitSecretLeafChange(t, c, secret, before)
		newCA := secretDataOf(t, c, caSecret)["tls.crt"]
		framework.Eventually(t, 60*time.Second, "the new CA in every caBundle", func() (bool, string) {
			for _, b := range webhookCABundles(t, c) {
				if !bytes.Contains([]byte(b), bytes.TrimSpace(newCA)) {
					return false, "an old bundle"
				}
			}
			return true, ""
		})
		waitServed(t, guardAddr, renewed)
	})
	// A last stretch of writes after the rotation, served with the new
	// certificate and bundle.
	time.Sleep(3 * time.Second)
	ok, failures := w.stop()
	if len(failures) > 0 {
		t.Errorf("%d of %d writes failed during the renewals, the first: %v", len(failures), ok+len(failures), failures[:min(len(failures), 5)])
	}
	if ok < 30 {
		t.Errorf("only %d writes during the renewals", ok)
	}
	t.Logf("%d writes during the renewals, %d failed", ok+len(failures), len(failures))
	if err := stopGuard(); err != nil {
		t.Errorf("stopping the guard: %v", err)
	}
}

// volumeMountPath is where the Deployment's container mounts volume name.
func volumeMountPath(t *testing.T, dep *appsv1.Deployment, name string) string {
	t.Helper()
	for _, m := range dep.Spec.Template.Spec.Containers[0].VolumeMounts {
		if m.Name == name {
			return m.MountPath
		}
	}
	t.Fatalf("the Deployment mounts no volume %s", name)
	return ""
}

// runPod runs the guard from the image's files in rootDir as the kubelet
// would run the chart's pod, as far as a test can without a node: the
// image's entrypoint with the container's arguments and environment,
// chrooted, as the pod's runAsUser and runAsGroup, the ServiceAccount's
// token and CA where the kubelet mounts them, the API server found
// through KUBERNETES_SERVICE_HOST and _PORT, and a read-only root
// filesystem (readOnlyRootFilesystem) by ownership: nothing but the
// volumes is writable by that user. The guard listens on the container's
// ports on every address, as in its own network namespace. It returns
// once the container's readiness probe passes, and a function that stops
// it as the kubelet does (SIGTERM, then SIGKILL after the grace period).
func runPod(t *testing.T, c *cluster.Cluster, dep *appsv1.Deployment, rootDir string, image ociConfig, token string) func() error {
	t.Helper()
	pod := dep.Spec.Template.Spec
	ctr := pod.Containers[0]
	if pod.SecurityContext == nil || pod.SecurityContext.RunAsUser == nil || pod.SecurityContext.RunAsGroup == nil {
		t.Fatal("the chart's pod sets no runAsUser and runAsGroup")
	}
	if ctr.SecurityContext == nil || ctr.SecurityContext.ReadOnlyRootFilesystem == nil || !*ctr.SecurityContext.ReadOnlyRootFilesystem {
		t.Fatal("the chart's container has no read-only root filesystem")
	}
	uid, gid := int(*pod.SecurityContext.RunAsUser), int(*pod.SecurityContext.RunAsGroup)
	// Read-only root: the image's writable places become root's.
	for _, dir := range []string{"tmp", strings.TrimPrefix(image.Config.WorkingDir, "/")} {
		p := filepath.Join(rootDir, dir)
		if err := os.Chown(p, 0, 0); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	admin := c.Config()
	sa := filepath.Join(rootDir, "var/run/secrets/kubernetes.io/serviceaccount")
	if err := os.MkdirAll(sa, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"token": []byte(token), "ca.crt": admin.CAData, "namespace": []byte(dep.Namespace)} {
		if err := os.WriteFile(filepath.Join(sa, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	host, port, err := net.SplitHostPort(strings.TrimPrefix(admin.Host, "https://"))
	if err != nil {
		t.Fatal(err)
	}
	env := append(slices.Clone(image.Config.Env), "KUBERNETES_SERVICE_HOST="+host, "KUBERNETES_SERVICE_PORT="+port)
	for _, e := range ctr.Env {
		switch {
		case e.ValueFrom == nil:
			env = append(env, e.Name+"="+e.Value)
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace":
			env = append(env, e.Name+"="+dep.Namespace)
		case e.ValueFrom.ResourceFieldRef != nil && e.ValueFrom.ResourceFieldRef.Resource == "limits.memory":
			env = append(env, fmt.Sprintf("%s=%d", e.Name, ctr.Resources.Limits.Memory().Value()))
		default:
			t.Fatalf("env %s: a source the test does not provide as the kubelet would", e.Name)
		}
	}
	argv := append(slices.Clone(image.Config.Entrypoint), ctr.Args...)
	if len(ctr.Command) > 0 {
		argv = append(slices.Clone(ctr.Command), ctr.Args...)
	}
	logPath := filepath.Join(c.LogDir(), "guard-pod.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := imageCommand(rootDir, image.Config.WorkingDir, env, uid, gid, argv...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait(); logFile.Close() }()
	var once sync.Once
	var stopErr error
	grace := 30 * time.Second
	if pod.TerminationGracePeriodSeconds != nil {
		grace = time.Duration(*pod.TerminationGracePeriodSeconds) * time.Second
	}
	stop := func() error {
		once.Do(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case stopErr = <-done:
			case <-time.After(grace):
				_ = cmd.Process.Kill()
				<-done
				stopErr = fmt.Errorf("no exit within the grace period of %s", grace)
			}
		})
		return stopErr
	}
	t.Cleanup(func() {
		_ = stop()
		// A write the guard survives is still one the real pod's read-only
		// root refuses.
		for _, line := range strings.Split(framework.ReadFile(t, logPath), "\n") {
			if l := strings.ToLower(line); strings.Contains(l, "permission denied") || strings.Contains(l, "read-only file system") {
				t.Errorf("the guard was refused a file operation in the image: %s", line)
			}
		}
		if t.Failed() {
			t.Logf("guard (from the image) log (%s):\n%s", logPath, lastLines(framework.ReadFile(t, logPath), 40))
		}
	})

	probe := ctr.ReadinessProbe
	if probe == nil || probe.HTTPGet == nil {
		t.Fatal("the chart's container has no HTTP readiness probe")
	}
	probePort := containerPort(t, ctr, probe.HTTPGet.Port.StrVal, probe.HTTPGet.Port.IntVal)
	url := fmt.Sprintf("http://127.0.0.1:%d%s", probePort, probe.HTTPGet.Path)
	framework.Eventually(t, 60*time.Second, "the readiness probe "+url, func() (bool, string) {
		select {
		case err := <-done:
			t.Fatalf("the guard exited: %v\n%s", err, lastLines(framework.ReadFile(t, logPath), 40))
		default:
		}
		resp, err := http.Get(url)
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
	return stop
}

// containerPort is the number of a container port given by name or number.
func containerPort(t *testing.T, ctr corev1.Container, name string, number int32) int32 {
	t.Helper()
	for _, p := range ctr.Ports {
		if (name != "" && p.Name == name) || (name == "" && p.ContainerPort == number) {
			return p.ContainerPort
		}
	}
	t.Fatalf("container %s declares no port %s%d (%v)", ctr.Name, name, number, ctr.Ports)
	return 0
}

// nonLoopbackIPv4 is an IPv4 address of this machine that an EndpointSlice
// may name.
func nonLoopbackIPv4(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
			return n.IP.String()
		}
	}
	t.Skip("no non-loopback IPv4 address: the API server cannot reach the guard through a Service here")
	return ""
}

// startCertManager runs bin/certmanager as cluster-admin until the test
// ends; its log goes to certmanager.log in the cluster's log directory.
func startCertManager(t *testing.T, c *cluster.Cluster, bin string) {
	t.Helper()
	logPath := filepath.Join(c.LogDir(), "certmanager.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--kubeconfig", c.KubeconfigPath())
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		logFile.Close()
		if t.Failed() {
			t.Logf("cert-manager log (%s):\n%s", logPath, lastLines(framework.ReadFile(t, logPath), 40))
		}
	})
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// publishGuardEndpoint gives the chart's webhook Service the endpoint the
// endpoint controllers would give it if the guard ran as the chart's pod:
// the Service's targetPort resolved against the pod template's container
// ports, which must be the port the guard's arguments serve on (a Service
// or container port that differs from the server's is "no endpoints
// available" or "connection refused" in a cluster). The address is this
// machine's and the port the one the test's guard listens on.
func publishGuardEndpoint(t *testing.T, c *cluster.Cluster, dep *appsv1.Deployment, ip string, hostBinary bool) int32 {
	t.Helper()
	svc := &corev1.Service{}
	if err := c.Client().Get(t.Context(), client.ObjectKey{Namespace: dep.Namespace, Name: certs.DefaultServiceName}, svc); err != nil {
		t.Fatal(err)
	}
	if len(svc.Spec.Ports) != 1 {
		t.Fatalf("Service %s has %d ports, want the webhook's", svc.Name, len(svc.Spec.Ports))
	}
	sp := svc.Spec.Ports[0]
	container := dep.Spec.Template.Spec.Containers[0]
	port := containerPort(t, container, sp.TargetPort.StrVal, sp.TargetPort.IntVal)
	if want := fmt.Sprintf("--webhook-port=%d", port); !slices.Contains(container.Args, want) {
		t.Fatalf("Service %s sends to container port %d, the guard's arguments %v do not serve there", svc.Name, port, container.Args)
	}
	if hostBinary {
		// The host's binary listens where StartGuard puts it.
		port = int32(c.WebhookPort())
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: dep.Namespace, Name: svc.Name + "-guard",
			Labels: map[string]string{discoveryv1.LabelServiceName: svc.Name}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To(sp.Name), Port: ptr.To(port), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
	if err := c.Client().Create(t.Context(), slice); err != nil {
		t.Fatal(err)
	}
	return port
}

func secretDataOf(t *testing.T, c *cluster.Cluster, key client.ObjectKey) map[string][]byte {
	t.Helper()
	s := &corev1.Secret{}
	if err := c.Client().Get(context.Background(), key, s); err != nil {
		t.Fatal(err)
	}
	return s.Data
}

// mountSecret keeps dir what the kubelet makes of a Secret volume: each key
// a symbolic link through `..data` to a timestamped directory, switched
// with one rename when the Secret changes, so that a reader never sees a
// certificate without its key. It follows the Secret every half second
// (the kubelet: within its sync period, about a minute) until the test
// ends, and returns once the Secret has been projected.
func mountSecret(t *testing.T, c *cluster.Cluster, key client.ObjectKey, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	projected := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		var version string
		for {
			s := &corev1.Secret{}
			if err := c.Client().Get(ctx, key, s); err == nil && s.ResourceVersion != version && len(s.Data["tls.crt"]) > 0 {
				if err := projectSecret(dir, s.Data); err != nil {
					t.Errorf("projecting %s: %v", key, err)
					return
				}
				if version == "" {
					close(projected)
				}
				version = s.ResourceVersion
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(500 * time.Millisecond):
			}
		}
	}()
	select {
	case <-projected:
	case <-time.After(60 * time.Second):
		t.Fatalf("Secret %s has no tls.crt after 60s", key)
	}
}

// projectSecret is the kubelet's atomic writer in short.
func projectSecret(dir string, data map[string][]byte) error {
	ts, err := os.MkdirTemp(dir, "..ts-")
	if err != nil {
		return err
	}
	// A Secret volume's default mode, readable by the pod's user.
	if err := os.Chmod(ts, 0o755); err != nil {
		return err
	}
	for k, v := range data {
		if err := os.WriteFile(filepath.Join(ts, k), v, 0o644); err != nil {
			return err
		}
	}
	old, _ := os.Readlink(filepath.Join(dir, "..data"))
	tmp := filepath.Join(dir, "..data_tmp")
	_ = os.Remove(tmp)
	if err := os.Symlink(filepath.Base(ts), tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
		return err
	}
	for k := range data {
		link := filepath.Join(dir, k)
		if _, err := os.Lstat(link); os.IsNotExist(err) {
			if err := os.Symlink(filepath.Join("..data", k), link); err != nil {
				return err
			}
		}
	}
	if old != "" {
		return os.RemoveAll(filepath.Join(dir, old))
	}
	return nil
}

// renewCertificate asks cert-manager to issue a Certificate again now, as
// `cmctl renew` does: an Issuing condition on its status.
func renewCertificate(t *testing.T, c *cluster.Cluster, ns, name string) {
	t.Helper()
	patch := fmt.Sprintf(`[{"op": "add", "path": "/status/conditions/-", "value": {"type": "Issuing", "status": "True",
		"reason": "ManuallyTriggered", "message": "renewed by TestCertManagerMode", "lastTransitionTime": %q}}]`, time.Now().UTC().Format(time.RFC3339))
	framework.MustKubectl(t, c, nil, "patch", "certificate", name, "-n", ns, "--subresource=status", "--type=json", "-p", patch)
}

func leafSerial(t *testing.T, pemData []byte) *big.Int {
	t.Helper()
	block, _ := pem.Decode(pemData)
	if block == nil {
		t.Fatal("no PEM certificate")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert.SerialNumber
}

// waitSecretLeafChange waits until the Secret holds another certificate
// than the one with serial before, and returns the new serial.
func waitSecretLeafChange(t *testing.T, c *cluster.Cluster, key client.ObjectKey, before *big.Int) *big.Int {
	t.Helper()
	var now *big.Int
	framework.Eventually(t, 60*time.Second, "a new certificate in "+key.String(), func() (bool, string) {
		now = leafSerial(t, secretDataOf(t, c, key)["tls.crt"])
		return now.Cmp(before) != 0, now.String()
	})
	return now
}

// waitServed waits until the guard presents the certificate with serial.
func waitServed(t *testing.T, addr string, serial *big.Int) {
	t.Helper()
	framework.Eventually(t, 60*time.Second, "the guard serving the renewed certificate", func() (bool, string) {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			return false, err.Error()
		}
		defer conn.Close()
		got := conn.ConnectionState().PeerCertificates[0].SerialNumber
		return got.Cmp(serial) == 0, got.String()
	})
}

// writes creates a headless Service and its StatefulSet, and a
// StatefulSet naming a Service that does not exist, over and over, until
// stopped: the first two must be admitted, the third denied by HG002 (so
// that a webhook failing open would not go unnoticed).
type writes struct {
	cancel   context.CancelFunc
	done     chan struct{}
	ok       atomic.Int64
	mu       sync.Mutex
	failures []string
}

func startWrites(t *testing.T, c *cluster.Cluster, ns string) *writes {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &writes{cancel: cancel, done: make(chan struct{})}
	fail := func(format string, args ...any) {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.failures = append(w.failures, time.Now().Format("15:04:05.000")+" "+fmt.Sprintf(format, args...))
	}
	decode := func(doc string, into client.Object) {
		if err := yaml.Unmarshal([]byte(doc), into); err != nil {
			t.Error(err)
		}
		into.SetNamespace(ns)
	}
	go func() {
		defer close(w.done)
		for i := 0; ctx.Err() == nil; i++ {
			name := fmt.Sprintf("w-%d", i)
			svc, sts, bad := &corev1.Service{}, &appsv1.StatefulSet{}, &appsv1.StatefulSet{}
			decode(framework.ServiceYAML(name, ""), svc)
			decode(framework.StatefulSetYAML(name, name, ""), sts)
			decode(framework.StatefulSetYAML("bad-"+name, "missing", ""), bad)
			for _, obj := range []client.Object{svc, sts} {
				if err := c.Client().Create(ctx, obj); err != nil && ctx.Err() == nil {
					fail("%T %s: %v", obj, name, err)
				} else if err == nil {
					w.ok.Add(1)
				}
			}
			err := c.Client().Create(ctx, bad)
			switch {
			case ctx.Err() != nil:
			case err == nil:
				fail("StatefulSet bad-%s admitted: the webhook did not answer", name)
			case !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "HG002"):
				fail("StatefulSet bad-%s: %v, want an HG002 denial", name, err)
			default:
				w.ok.Add(1)
			}
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() { w.stop() })
	return w
}

// stop ends the writes and returns how many did what they should and
// what went wrong with the others.
func (w *writes) stop() (int, []string) {
	w.cancel()
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return int(w.ok.Load()), w.failures
}
