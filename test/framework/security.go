package framework

import (
	"io"
	"net/http"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/headless-guard/headless-guard/test/cluster"
)

// ServicesCreatedDuring runs fn and returns the Services (namespace/name)
// created in the cluster while it ran and for settle after: a watch sees
// one that existed only for a moment, too.
func ServicesCreatedDuring(t *testing.T, c *cluster.Cluster, settle time.Duration, fn func()) []string {
	t.Helper()
	wc, err := client.NewWithWatch(c.Config(), client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	list := &corev1.ServiceList{}
	if err := wc.List(t.Context(), list); err != nil {
		t.Fatal(err)
	}
	w, err := wc.Watch(t.Context(), &corev1.ServiceList{}, &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: list.ResourceVersion}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	fn()
	var created []string
	deadline := time.After(settle)
	for {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatal("the Service watch ended early")
			}
			if svc, isSvc := ev.Object.(*corev1.Service); isSvc && ev.Type == "ADDED" {
				created = append(created, svc.Namespace+"/"+svc.Name)
			}
		case <-deadline:
			return created
		}
	}
}

// LimitedUser creates ServiceAccount name in ns with a Role of only rule,
// and returns a kubeconfig for it.
func LimitedUser(t *testing.T, c *cluster.Cluster, ns, name string, rule rbacv1.PolicyRule) string {
	t.Helper()
	ctx := t.Context()
	objs := []client.Object{
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}},
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Rules: []rbacv1.PolicyRule{rule}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: ns, Name: name}}},
	}
	for _, o := range objs {
		if err := c.Client().Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	path, _, _ := SaKubeconfig(t, c, ns, name)
	return path
}

// MetricsText is the body of a GET of url (a metrics endpoint).
func MetricsText(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}
