package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/headless-guard/headless-guard/test/cluster"
)

// cacheNamespace holds the Service the guard must know of before it may
// turn Ready: created before the chart is installed.
const cacheNamespace = "cache-sync"

// readyCheck is what the API server answered, through the guard, at the
// moment the EndpointSlice first listed a Ready replica.
type readyCheck struct {
	after time.Duration // since the install began
	// broken: `serviceName: web`, the Service is web-headless (denied,
	// naming the Service that selects its pods: the cache knows it).
	broken error
	// valid: `serviceName: web-headless` (admitted unless the guard
	// answered from an empty cache: HG002).
	valid error
	// retries on "no endpoints available": the API server's view of
	// the EndpointSlice a moment behind the test's.
	retries int
}

// install runs `helm install` of deploy/chart with the image `make image`
// built, as docs/deploy.md does, and waits until both replicas are Ready;
// it records in firstReady what the first Ready replica answered.
func install(root string) error {
	ctx, cancel := context.WithTimeout(context.Background(), installTimeout)
	defer cancel()
	c := node.Client()
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: cacheNamespace}}); err != nil {
		return err
	}
	if err := c.Create(ctx, headlessService(cacheNamespace, "web-headless", "web")); err != nil {
		return err
	}
	helm, err := cluster.FindAsset(root, "helm")
	if err != nil {
		return err
	}
	repo, tag, _ := strings.Cut(guardImage, ":")
	if i := strings.LastIndex(guardImage, ":"); i > strings.LastIndex(guardImage, "/") {
		repo, tag = guardImage[:i], guardImage[i+1:]
	}
	start := time.Now()
	checked := make(chan readyCheck, 1)
	go func() { checked <- checkFirstReady(ctx, start) }()
	cmd := exec.CommandContext(ctx, helm, "install", "headless-guard", filepath.Join(root, "deploy", "chart", "headless-guard"),
		"--kubeconfig", node.KubeconfigPath(), "--namespace", guardNamespace, "--create-namespace",
		"--set", "image.repository="+repo, "--set", "image.tag="+tag)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("helm install: %w\n%s", err, out.String())
	}
	fmt.Printf("node: helm install headless-guard (image %s):\n%s", guardImage, indent(out.String()))
	select {
	case firstReady = <-checked:
	case <-ctx.Done():
		return fmt.Errorf("no replica of the guard Ready within %s", installTimeout)
	}
	for {
		var dep appsv1.Deployment
		err := c.Get(ctx, client.ObjectKey{Namespace: guardNamespace, Name: "headless-guard"}, &dep)
		if err == nil && dep.Status.ReadyReplicas == 2 && dep.Status.UpdatedReplicas == 2 && dep.Status.Replicas == 2 {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("the Deployment's two replicas not Ready within %s: %+v (%v)", installTimeout, dep.Status, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// checkFirstReady polls the webhook Service's EndpointSlices and, as soon
// as one lists a Ready endpoint, asks the API server to admit StatefulSets
// (of no pods) that need the guard's cache to be judged right.
func checkFirstReady(ctx context.Context, start time.Time) readyCheck {
	c := node.Client()
	for ctx.Err() == nil {
		var slices discoveryv1.EndpointSliceList
		if err := c.List(ctx, &slices, client.InNamespace(guardNamespace), client.MatchingLabels{discoveryv1.LabelServiceName: "headless-guard-webhook"}); err == nil && anyReady(slices.Items) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	r := readyCheck{after: time.Since(start)}
	// Created for real (no pods: replicas 0): a server-side dry run is
	// only warned about (it cannot see the Services of the same apply).
	create := func(sts *appsv1.StatefulSet) error {
		for {
			err := c.Create(ctx, sts)
			if err == nil || !strings.Contains(err.Error(), "no endpoints available") || ctx.Err() != nil {
				return err
			}
			r.retries++
			time.Sleep(20 * time.Millisecond)
		}
	}
	// The broken one first: once a StatefulSet uses web-headless, no
	// other's `serviceName` is taken for a typo of it.
	r.broken = create(statefulSet(cacheNamespace, "db", "web", "web", 0))
	r.valid = create(statefulSet(cacheNamespace, "web", "web-headless", "web", 0))
	return r
}

func anyReady(slices []discoveryv1.EndpointSlice) bool {
	for _, s := range slices {
		for _, e := range s.Endpoints {
			if e.Conditions.Ready != nil && *e.Conditions.Ready {
				return true
			}
		}
	}
	return false
}

// headlessService is a headless Service `name` selecting app=app, with
// port 80 named web.
func headlessService(ns, name, app string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{
			ClusterIP: corev1.ClusterIPNone,
			Selector:  map[string]string{"app": app},
			Ports:     []corev1.ServicePort{{Name: "web", Port: 80, TargetPort: intstr.FromInt32(80)}},
		},
	}
}

// statefulSet is a StatefulSet `name` of replicas toolbox pods labelled
// app=app, governed by Service `service`.
func statefulSet(ns, name, service, app string, replicas int32) *appsv1.StatefulSet {
	labels := map[string]string{"app": app}
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.StatefulSetSpec{
			ServiceName: service,
			Replicas:    &replicas,
			Selector:    &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name:  "web",
					Image: toolboxImage,
					Ports: []corev1.ContainerPort{{Name: "web", ContainerPort: 80}},
				}}},
			},
		},
	}
}

func indent(s string) string {
	var b strings.Builder
	for line := range strings.Lines(s) {
		b.WriteString("  " + line)
	}
	return b.String()
}

// guardPods are the Running pods of the chart's Deployment.
func guardPods(ctx context.Context) ([]corev1.Pod, error) {
	var pods corev1.PodList
	if err := node.Client().List(ctx, &pods, client.InNamespace(guardNamespace), client.MatchingLabels{"app.kubernetes.io/name": "headless-guard"}); err != nil {
		return nil, err
	}
	var running []corev1.Pod
	for _, p := range pods.Items {
		if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
			running = append(running, p)
		}
	}
	slices.SortFunc(running, func(a, b corev1.Pod) int { return strings.Compare(a.Name, b.Name) })
	if len(running) == 0 {
		return nil, errors.New("no guard pod runs")
	}
	return running, nil
}
