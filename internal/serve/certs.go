package serve

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/headless-guard/headless-guard/certs"
)

// Certificate modes of `serve --cert-mode`.
const (
	// CertModeFiles serves the certificate files in --webhook-cert-path,
	// written by cert-manager (deploy/overlays/cert-manager) or anyone else.
	CertModeFiles = "files"
	// CertModeSelfManaged creates and renews a CA and serving certificate
	// in a Secret and patches the webhook configurations' caBundle
	// (deploy/overlays/self-signed).
	CertModeSelfManaged = "self-managed"
)

// CertOptions are the serving-certificate options of `headless-guard
// serve` (the --cert-* flags, --ca-validity, --webhook-config-name and
// --webhook-service-name).
type CertOptions struct {
	Mode              string
	SecretName        string
	Namespace         string
	WebhookConfigName string
	ServiceName       string
	Validity          time.Duration
	CAValidity        time.Duration
	DNSNames          []string
}

// Validate checks the options.
func (o *CertOptions) Validate() error {
	switch o.Mode {
	case CertModeFiles:
		return nil
	case CertModeSelfManaged:
	default:
		return fmt.Errorf("invalid --cert-mode %q: must be %s or %s", o.Mode, CertModeFiles, CertModeSelfManaged)
	}
	var errs []error
	if o.Namespace == "" {
		errs = append(errs, errors.New("--cert-mode=self-managed needs --cert-namespace (or $POD_NAMESPACE)"))
	}
	if o.SecretName == "" || o.WebhookConfigName == "" || o.ServiceName == "" {
		errs = append(errs, errors.New("--cert-secret-name, --webhook-config-name and --webhook-service-name must not be empty"))
	}
	if o.Validity <= 0 || o.CAValidity <= 0 {
		errs = append(errs, errors.New("--cert-validity and --ca-validity must be positive"))
	} else if o.Validity > o.CAValidity {
		errs = append(errs, fmt.Errorf("--cert-validity (%s) must not exceed --ca-validity (%s): a certificate never outlives its CA", o.Validity, o.CAValidity))
	}
	return errors.Join(errs...)
}

// servingCertificate validates the certificate flags and returns the
// certificate the webhook server presents: the files in
// --webhook-cert-path, in both modes (self-managed mode writes them).
func (o *Options) servingCertificate() (*certs.Serving, error) {
	if err := o.Certs.Validate(); err != nil {
		return nil, err
	}
	dir := o.WebhookCertPath
	if dir == "" {
		// controller-runtime's default, which the flag's help names.
		dir = filepath.Join(os.TempDir(), "k8s-webhook-server", "serving-certs")
	}
	return certs.NewServing(filepath.Join(dir, o.WebhookCertName), filepath.Join(dir, o.WebhookCertKey), ctrl.Log.WithName("certs")), nil
}

// setupCertificates adds serving (and in self-managed mode the Secret's
// keeper) to mgr, with their readiness checks and the expiry gauge.
func (o *Options) setupCertificates(mgr ctrl.Manager, serving *certs.Serving) error {
	if err := certs.RegisterMetrics(); err != nil {
		return err
	}
	if err := mgr.Add(serving); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("certificate", serving.ReadyCheck); err != nil {
		return err
	}
	if o.Certs.Mode != CertModeSelfManaged {
		return nil
	}
	// Not the manager's client: its cache would list and watch every
	// Secret in the cluster, which the RBAC rightly does not allow.
	c, err := client.New(mgr.GetConfig(), client.Options{Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper()})
	if err != nil {
		return err
	}
	names := certs.Names{Service: o.Certs.ServiceName, Namespace: o.Certs.Namespace, Extra: o.Certs.DNSNames}
	sm := &certs.SelfManaged{
		Client:            c,
		Namespace:         o.Certs.Namespace,
		SecretName:        o.Certs.SecretName,
		WebhookConfigName: o.Certs.WebhookConfigName,
		Policy: certs.Policy{
			CA:      certs.CACertificate(o.Certs.Namespace, o.Certs.SecretName, o.Certs.CAValidity),
			Serving: certs.ServingCertificate(names, o.Certs.SecretName, o.Certs.Validity),
		},
		Serving: serving,
		// The API server sees a patched caBundle within a second; short
		// lifetimes (tests) wait less.
		Settle: min(5*time.Second, o.Certs.CAValidity/20),
		// How soon a replica follows a renewal another replica made.
		Refresh: max(time.Second, min(time.Minute, o.Certs.Validity/20)),
		Log:     ctrl.Log.WithName("certs").WithValues("secret", o.Certs.Namespace+"/"+o.Certs.SecretName),
	}
	if err := mgr.Add(sm); err != nil {
		return err
	}
	return mgr.AddReadyzCheck("certificate-secret", sm.ReadyCheck)
}
