package main

import (
	"context"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/headless-guard/headless-guard/test/cluster"
)

// certNamespace holds the self-managed certificate's Secret, as in deploy/.
const certNamespace = "headless-guard-system"

// selfManagedCerts prepares the guard of `make run` to create and renew its
// own certificate, as the self-signed overlay does, instead of serving the
// one envtest generated: it creates the Secret's namespace and returns the
// flags, which go before the user's ARGS (so that those can override them).
// The certificate is for 127.0.0.1 and localhost, where envtest points the
// webhook configurations, and its files are in <local>/certs.
func selfManagedCerts(ctx context.Context, c *cluster.Cluster, local string) ([]string, error) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: certNamespace}}
	if err := c.Client().Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, err
	}
	return []string{
		"--cert-mode=self-managed",
		"--cert-namespace=" + certNamespace,
		"--webhook-cert-path=" + filepath.Join(local, "certs"),
		"--cert-dns-names=127.0.0.1,localhost",
	}, nil
}
