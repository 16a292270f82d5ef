// Package certs provides the webhook's serving certificate, in one of two
// modes (DESIGN.md, "TLS and certificates"):
//
//   - files: a certificate and key on disk, written by cert-manager (the
//     deploy/overlays/cert-manager overlay, whose Issuer and Certificate
//     objects come from CertManagerObjects) or by anything else;
//   - self-managed: SelfManaged keeps an ECDSA CA and serving certificate in
//     one Secret of the webhook's namespace, patches the CA bundle into the
//     webhook's own two configurations, renews at 2/3 of each lifetime, and
//     writes the serving pair to disk.
//
// Either way Serving hands the server the certificate on disk through
// controller-runtime's certwatcher, so a renewal takes effect without a
// restart, reports readiness (false until a valid certificate is loaded) and
// sets headless_guard_certificate_expiry_timestamp_seconds.
//
// Certificates are described with cert-manager's API types and issued with
// its pki package, so that both modes produce the same certificates.
package certs
