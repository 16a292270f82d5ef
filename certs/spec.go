package certs

import (
	"net"
	"slices"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Defaults shared by both modes.
const (
	// DefaultValidity is the lifetime of a serving certificate.
	DefaultValidity = 90 * 24 * time.Hour
	// DefaultCAValidity is the lifetime of the CA.
	DefaultCAValidity = 365 * 24 * time.Hour
	// DefaultSecretName is the Secret holding the serving certificate (and
	// in self-managed mode the CA).
	DefaultSecretName = "headless-guard-webhook-cert"
	// DefaultServiceName is the webhook's Service (deploy/base/service.yaml).
	DefaultServiceName = "headless-guard-webhook"
	// DefaultWebhookConfigName names both webhook configurations
	// (deploy/base/webhooks.yaml).
	DefaultWebhookConfigName = "headless-guard"
	// CACommonName is the subject of the CA.
	CACommonName = "headless-guard-ca"
)

// Names are the names the webhook is reached by: its Service in its
// namespace (the API server connects to <service>.<namespace>.svc), and
// extra DNS names or IP addresses, e.g. 127.0.0.1 for a local run.
type Names struct {
	Service   string
	Namespace string
	Extra     []string
}

// SANs are the DNS names and IP addresses of a serving certificate.
func (n Names) SANs() (dnsNames, ipAddresses []string) {
	if n.Service != "" && n.Namespace != "" {
		dnsNames = []string{n.Service, n.Service + "." + n.Namespace, n.Service + "." + n.Namespace + ".svc"}
	}
	for _, e := range n.Extra {
		if ip := net.ParseIP(e); ip != nil {
			ipAddresses = append(ipAddresses, ip.String())
		} else if e != "" {
			dnsNames = append(dnsNames, e)
		}
	}
	slices.Sort(dnsNames)
	slices.Sort(ipAddresses)
	return slices.Compact(dnsNames), slices.Compact(ipAddresses)
}

// ecdsaKey is the key of a certificate: ECDSA P-256, with rotation.
func ecdsaKey(rotation cmapi.PrivateKeyRotationPolicy) *cmapi.CertificatePrivateKey {
	return &cmapi.CertificatePrivateKey{
		Algorithm:      cmapi.ECDSAKeyAlgorithm,
		Size:           256,
		Encoding:       cmapi.PKCS8,
		RotationPolicy: rotation,
	}
}

// CACertificate describes the CA. Renewal is cert-manager's default, at
// 2/3 of the lifetime, which self-managed mode applies too.
//
// The CA keeps its private key when it is renewed (rotationPolicy:
// Never). The API server trusts the caBundle that cainjector copies from
// the serving certificate's Secret, while the server presents the serving
// certificate it last loaded; the two change at different moments. With
// the same key and subject, the renewed CA verifies a serving certificate
// the old one signed, and the old CA verifies one the renewed one signed,
// so no moment of the renewal has the API server distrust the server. A
// new key at renewal (rotationPolicy: Always) opened exactly that window
// (TestCARenewalKeepsTrust).
func CACertificate(namespace, secretName string, validity time.Duration) *cmapi.Certificate {
	return &cmapi.Certificate{
		TypeMeta:   metav1.TypeMeta{APIVersion: cmapi.SchemeGroupVersion.String(), Kind: cmapi.CertificateKind},
		ObjectMeta: metav1.ObjectMeta{Name: CACommonName, Namespace: namespace},
		Spec: cmapi.CertificateSpec{
			CommonName: CACommonName,
			IsCA:       true,
			Duration:   &metav1.Duration{Duration: validity},
			SecretName: secretName,
			PrivateKey: ecdsaKey(cmapi.RotationPolicyNever),
			Usages:     []cmapi.KeyUsage{cmapi.UsageCertSign, cmapi.UsageCRLSign, cmapi.UsageDigitalSignature},
		},
	}
}

// ServingCertificate describes the webhook's serving certificate.
func ServingCertificate(names Names, secretName string, validity time.Duration) *cmapi.Certificate {
	dnsNames, ips := names.SANs()
	return &cmapi.Certificate{
		TypeMeta:   metav1.TypeMeta{APIVersion: cmapi.SchemeGroupVersion.String(), Kind: cmapi.CertificateKind},
		ObjectMeta: metav1.ObjectMeta{Name: names.Service, Namespace: names.Namespace},
		Spec: cmapi.CertificateSpec{
			DNSNames:    dnsNames,
			IPAddresses: ips,
			Duration:    &metav1.Duration{Duration: validity},
			SecretName:  secretName,
			PrivateKey:  ecdsaKey(cmapi.RotationPolicyAlways),
			Usages:      []cmapi.KeyUsage{cmapi.UsageServerAuth, cmapi.UsageDigitalSignature},
		},
	}
}

// Object names of the cert-manager overlay.
const (
	selfSignedIssuerName = "headless-guard-selfsigned"
	caIssuerName         = "headless-guard-ca"
	caSecretName         = "headless-guard-ca"
)

// ServingCertificateName is the serving Certificate of the cert-manager
// overlay, which the webhook configurations name in
// cert-manager.io/inject-ca-from.
const ServingCertificateName = "headless-guard-serving"

// CertManagerObjects are the cert-manager objects of the cert-manager
// overlay: a self-signed Issuer that signs the CA Certificate, a CA Issuer
// backed by it, and the serving Certificate that Issuer signs into
// secretName. A CA, rather than a self-signed serving certificate, keeps the
// injected caBundle unchanged when the serving certificate is renewed.
func CertManagerObjects(names Names, secretName string) []client.Object {
	issuer := func(name string, cfg cmapi.IssuerConfig) *cmapi.Issuer {
		return &cmapi.Issuer{
			TypeMeta:   metav1.TypeMeta{APIVersion: cmapi.SchemeGroupVersion.String(), Kind: cmapi.IssuerKind},
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: names.Namespace},
			Spec:       cmapi.IssuerSpec{IssuerConfig: cfg},
		}
	}
	ca := CACertificate(names.Namespace, caSecretName, DefaultCAValidity)
	ca.Spec.IssuerRef = cmmeta.IssuerReference{Name: selfSignedIssuerName, Kind: cmapi.IssuerKind, Group: "cert-manager.io"}
	serving := ServingCertificate(Names{Service: names.Service, Namespace: names.Namespace}, secretName, DefaultValidity)
	serving.Name = ServingCertificateName
	serving.Spec.IssuerRef = cmmeta.IssuerReference{Name: caIssuerName, Kind: cmapi.IssuerKind, Group: "cert-manager.io"}
	return []client.Object{
		issuer(selfSignedIssuerName, cmapi.IssuerConfig{SelfSigned: &cmapi.SelfSignedIssuer{}}),
		ca,
		issuer(caIssuerName, cmapi.IssuerConfig{CA: &cmapi.CAIssuer{SecretName: caSecretName}}),
		serving,
	}
}
