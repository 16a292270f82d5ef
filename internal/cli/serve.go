package cli

import (
	"context"
	"flag"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/headless-guard/headless-guard/certs"
	"github.com/headless-guard/headless-guard/internal/serve"
	"github.com/headless-guard/headless-guard/rules"
)

// RunServeFunc runs the server with the options the flags mapped to;
// serve.Run in the binary.
type RunServeFunc func(ctx context.Context, o serve.Options) error

// NewServeCommand returns `headless-guard serve`, which maps its flags onto
// serve.Options, checks them (a wrong value is a usage error), sets up
// logging on s.Err and calls run, as cert-manager's webhook command does.
func NewServeCommand(s Streams, run RunServeFunc) *cobra.Command {
	o := &serve.Options{}
	var zapOpts zap.Options
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the admission webhook server",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return &ExitError{Code: ExitUsage, Err: err, Usage: true}
			}
			zapOpts.DestWriter = s.Err
			ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
			return run(cmd.Context(), *o)
		},
	}
	addServeFlags(cmd.Flags(), o)
	goflags := flag.NewFlagSet("zap", flag.ContinueOnError)
	zapOpts.BindFlags(goflags)
	cmd.Flags().AddGoFlagSet(goflags)
	return cmd
}

// addServeFlags maps the flags of `headless-guard serve` onto o, named as in
// the kubebuilder scaffold where one exists.
func addServeFlags(fs *pflag.FlagSet, o *serve.Options) {
	fs.StringVar(&o.Kubeconfig, "kubeconfig", "", "kubeconfig file; default: in-cluster config, then $KUBECONFIG, then ~/.kube/config")
	fs.Float32Var(&o.KubeAPIQPS, "kube-api-qps", 50, "client-side rate limit of requests to the API server: live reads on cache misses, Events, injected Services")
	fs.IntVar(&o.KubeAPIBurst, "kube-api-burst", 100, "burst above --kube-api-qps")
	fs.StringVar(&o.WebhookCertPath, "webhook-cert-path", "", "directory holding the serving certificate and key (reloaded when they change); default: the controller-runtime default")
	fs.StringVar(&o.WebhookCertName, "webhook-cert-name", "tls.crt", "certificate file name in --webhook-cert-path")
	fs.StringVar(&o.WebhookCertKey, "webhook-cert-key", "tls.key", "key file name in --webhook-cert-path")
	fs.StringVar(&o.WebhookHost, "webhook-host", "", "address the webhook server listens on (default all)")
	fs.IntVar(&o.WebhookPort, "webhook-port", 9443, "port of the webhook server")
	fs.StringVar(&o.MetricsBindAddress, "metrics-bind-address", "0", `metrics endpoint address, e.g. ":8443" (HTTPS with --metrics-secure) or ":8080"; "0" disables it`)
	fs.BoolVar(&o.MetricsSecure, "metrics-secure", true, "serve metrics over HTTPS behind Kubernetes authentication and authorization")
	fs.StringSliceVar(&o.MetricsTokenAudiences, "metrics-token-audiences", nil, "with --metrics-secure: accept only scraper tokens issued for one of these audiences (e.g. a projected token with audience headless-guard-metrics), so that a token sent here is of no use against the API server; default the API server's audiences")
	fs.StringVar(&o.HealthProbeBindAddr, "health-probe-bind-address", ":8081", "address of /healthz and /readyz")
	fs.StringVar(&o.PprofBindAddress, "pprof-bind-address", "0", `address of /debug/pprof (profiles for performance work, e.g. "127.0.0.1:6060"); "0" disables it`)
	fs.BoolVar(&o.EnableHTTP2, "enable-http2", false, "serve HTTP/2 on the webhook and metrics servers (off: CVE-2023-44487, CVE-2023-39325)")
	fs.StringVar(&o.TLSMinVersion, "tls-min-version", "1.2", "minimum TLS version: 1.2 or 1.3")
	fs.StringVar(&o.Mode, "mode", string(rules.ModeEnforce), "enforce, or warn to turn every deny into a warning; the namespace label headless-guard.io/mode overrides it")
	fs.StringVar(&o.PolicyLevel, "policy", string(rules.LevelDefault), "default: deny only mistakes certain from what admission sees (a typo next to the right Service, a selector that misses the pods, names too long, per-pod names the pods' own configuration uses) and warn about the rest, which the audit reports after --audit-grace-period; strict: deny whenever pods would lack their per-pod DNS names. The namespace label headless-guard.io/policy overrides it")
	fs.StringVar(&o.ControllerOwned, "controller-owned", string(rules.ControllerOwnedReport), "objects with a `controller: true` ownerReference (written by an operator, which cannot read a denial and retries forever): report (warn, and the audit reports them) or enforce (as people's objects). The namespace label headless-guard.io/controller-owned overrides it")
	fs.StringArrayVar(&o.Rules, "rule", nil, "override a rule's action, e.g. --rule HG004=warn (deny|warn|off); repeatable")
	fs.StringVar(&o.DryRunMissingService, "dry-run-missing-service", "warn", "HG002 on server-side dry-run requests: warn (siblings of a dry-run apply are not persisted, kubernetes #83562) or deny")
	fs.BoolVar(&o.Inject, "inject", false, "create the missing headless Service of every StatefulSet (else only in namespaces labelled headless-guard.io/inject=true); an object labelled headless-guard.io/inject=false opts out")
	fs.BoolVar(&o.FixLabels, "fix-labels", false, "add missing selector labels to new StatefulSets and name unnamed Service ports (else only in namespaces labelled headless-guard.io/fix-labels=true); an object labelled headless-guard.io/fix-labels=false opts out")
	fs.BoolVar(&o.PublishNotReady, "publish-not-ready-addresses", false, "set publishNotReadyAddresses on injected Services")
	fs.StringVar(&o.ClusterDomain, "cluster-domain", rules.DefaultClusterDomain, "cluster DNS domain, for the FQDN length check")
	fs.BoolVar(&o.LeaderElect, "leader-elect", false, "elect one leader among replicas for the reconcilers (injected Services, audit); the webhook serves on every replica")
	fs.StringVar(&o.LeaderElectionNS, "leader-election-namespace", "", "namespace of the leader election lease (default: the pod's namespace in-cluster)")
	fs.Duration("injected-service-grace-period", 0, "no effect: injected Services are created from stored StatefulSets and removed by the garbage collector")
	_ = fs.MarkDeprecated("injected-service-grace-period", "it has no effect: headless-guard creates injected Services only for StatefulSets the API server stored, owned by them")
	fs.StringVar(&o.ClientCAFile, "client-ca-file", "", "PEM file of the CAs whose client certificates the webhook server accepts (re-read when it changes); when set, a caller without such a certificate (anyone but the API server) fails the TLS handshake")
	fs.StringSliceVar(&o.ClientNames, "client-allowed-names", nil, "with --client-ca-file: the client certificate names (subject common name or DNS name) served; default any certificate the CAs issued")
	fs.DurationVar(&o.ShutdownDelay, "shutdown-delay", 0, "on SIGTERM, report not ready and keep serving this long before stopping, so that endpoints drop the pod first (5s in deploy/)")
	fs.BoolVar(&o.Audit, "audit", true, "audit existing objects: Events on offenders and the headless_guard_audit_violations gauge")
	fs.DurationVar(&o.AuditGracePeriod, "audit-grace-period", 2*time.Minute, "with --audit: how long a finding must persist before it is reported (a Service created after its StatefulSet, by kubectl apply or an operator, is never reported); 0 reports at once")
	fs.BoolVar(&o.AuditReports, "audit-reports", true, "with --audit: keep the findings as one openreports.io/v1alpha1 Report per namespace (when its CRD is installed)")
	addCertFlags(fs, &o.Certs)
}

// addCertFlags maps the serving-certificate flags onto c.
func addCertFlags(fs *pflag.FlagSet, c *serve.CertOptions) {
	fs.StringVar(&c.Mode, "cert-mode", serve.CertModeFiles, "serving certificate: files (the pair in --webhook-cert-path, e.g. from cert-manager, reloaded on change) or self-managed (a CA and certificate kept in a Secret, renewed at 2/3 of their lifetime, caBundle patched into the webhook configurations)")
	fs.StringVar(&c.SecretName, "cert-secret-name", certs.DefaultSecretName, "self-managed: the Secret holding the CA and serving certificate")
	fs.StringVar(&c.Namespace, "cert-namespace", os.Getenv("POD_NAMESPACE"), "self-managed: namespace of the Secret (default $POD_NAMESPACE), also in the certificate's DNS names")
	fs.StringVar(&c.WebhookConfigName, "webhook-config-name", certs.DefaultWebhookConfigName, "self-managed: name of the ValidatingWebhookConfiguration and MutatingWebhookConfiguration whose caBundle is kept up to date")
	fs.StringVar(&c.ServiceName, "webhook-service-name", certs.DefaultServiceName, "self-managed: the webhook's Service; the certificate is for <service>.<namespace>.svc")
	fs.DurationVar(&c.Validity, "cert-validity", certs.DefaultValidity, "self-managed: lifetime of a serving certificate")
	fs.DurationVar(&c.CAValidity, "ca-validity", certs.DefaultCAValidity, "self-managed: lifetime of the CA")
	fs.StringSliceVar(&c.DNSNames, "cert-dns-names", nil, "self-managed: extra DNS names or IP addresses of the serving certificate, e.g. 127.0.0.1,localhost for a local run")
}
