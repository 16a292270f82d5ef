package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilptr "k8s.io/utils/ptr"

	"github.com/headless-guard/headless-guard/test/cluster"
)

// TestOperatorStatefulSetFirstResolves is the DNS outcome of issue 20's
// operator pattern (a): an operator creates its StatefulSet, owned by its
// custom resource, before the headless Service (Percona XtraDB, the
// OT-CONTAINER-KIT redis-operator, mariadb-operator). headless-guard
// admits it with a warning instead of denying it forever; once the
// operator has created the Service, the pods' names answer.
func TestOperatorStatefulSetFirstResolves(t *testing.T) {
	setup(t)
	ctx := context.Background()
	const ns, name = "operator-sts-first", "db"
	createNamespace(t, ns, nil)
	if out, errOut, err := kubectl(t, []byte(cluster.DatabaseCRD), "apply", "-f", "-"); err != nil {
		t.Fatalf("installing the CRD: %v\n%s%s", err, out, errOut)
	}
	if out, errOut, err := kubectl(t, nil, "wait", "--for=condition=Established", "--timeout=60s", "crd/databases.ops.test.headless-guard.io"); err != nil {
		t.Fatalf("the CRD established: %v\n%s%s", err, out, errOut)
	}
	db := &unstructured.Unstructured{}
	db.SetAPIVersion("ops.test.headless-guard.io/v1")
	db.SetKind("Database")
	db.SetNamespace(ns)
	db.SetName(name)
	if err := cl.Client().Create(ctx, db); err != nil {
		t.Fatal(err)
	}
	owner := []metav1.OwnerReference{{APIVersion: db.GetAPIVersion(), Kind: db.GetKind(), Name: name, UID: db.GetUID(),
		Controller: utilptr.To(true), BlockOwnerDeletion: utilptr.To(true)}}
	labels := map[string]string{"app": name}
	sts := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, OwnerReferences: owner},
		Spec: appsv1.StatefulSetSpec{
			ServiceName: name,
			Replicas:    utilptr.To[int32](2),
			Selector:    &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "db", Image: "registry.example/db:1",
					Ports: []corev1.ContainerPort{{Name: "db", ContainerPort: 5432}},
					Env:   []corev1.EnvVar{{Name: "PEERS", Value: fmt.Sprintf("db-0.db.%[1]s.svc.cluster.local,db-1.db.%[1]s.svc.cluster.local", ns)}},
				}}},
			},
		},
	}
	// The operator's reconcile: the StatefulSet, returning on error, then
	// the Service.
	if err := cl.Client().Create(ctx, sts); err != nil {
		t.Fatalf("the operator's StatefulSet must be admitted (controller-owned objects are reported, not denied): %v", err)
	}
	created := time.Now()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, OwnerReferences: owner},
		Spec: corev1.ServiceSpec{
			ClusterIP: corev1.ClusterIPNone,
			Selector:  labels,
			Ports:     []corev1.ServicePort{{Name: "db", Port: 5432}},
		},
	}
	if err := cl.Client().Create(ctx, svc); err != nil {
		t.Fatal(err)
	}
	pods := waitPods(t, ns, labels, 2)
	for _, pod := range []string{"db-0", "db-1"} {
		resolves(t, ns, fqdn(pod, name, ns), []string{ipOf(t, pods, pod)})
	}
	t.Logf("the pods' names answered %v after the StatefulSet was created", time.Since(created).Round(100*time.Millisecond))
}
