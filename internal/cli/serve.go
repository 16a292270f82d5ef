package cli

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/headless-guard/headless-guard/internal/admissionhttp"
	"github.com/headless-guard/headless-guard/internal/controller"
	"github.com/headless-guard/headless-guard/internal/lookup"
	"github.com/headless-guard/headless-guard/internal/version"
	"github.com/headless-guard/headless-guard/rules"
	"github.com/headless-guard/headless-guard/webhook"
)

// ServeOptions are the flags of `headless-guard serve`, named as in the
// kubebuilder scaffold where one exists.
type ServeOptions struct {
	Kubeconfig           string
	KubeAPIQPS           float32
	KubeAPIBurst         int
	WebhookCertPath      string
	WebhookCertName      string
	WebhookCertKey       string
	WebhookHost          string
	WebhookPort          int
	MetricsBindAddress   string
	MetricsSecure        bool
	HealthProbeBindAddr  string
	PprofBindAddress     string
	EnableHTTP2          bool
	TLSMinVersion        string
	Mode                 string
	PolicyLevel          string
	ControllerOwned      string
	Rules                []string
	DryRunMissingService string
	Inject               bool
	FixLabels            bool
	PublishNotReady      bool
	ClusterDomain        string
	LeaderElect          bool
	LeaderElectionNS     string
	InjectGracePeriod    time.Duration
	ClientCAFile         string
	ClientNames          []string
	Audit                bool
	AuditReports         bool
	AuditGracePeriod     time.Duration
	ShutdownDelay        time.Duration
	// Certs are the serving-certificate flags (serve_certs.go).
	Certs CertOptions
	zap   zap.Options

	// MetricsTokenAudiences, when set, are the audiences a scraper's
	// token must be issued for (serve_metricsauth.go).
	MetricsTokenAudiences []string
}

// AddFlags registers the options on fs.
func (o *ServeOptions) AddFlags(fs *pflag.FlagSet) {
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
	fs.DurationVar(&o.InjectGracePeriod, "injected-service-grace-period", 0, "no effect: injected Services are created from stored StatefulSets and removed by the garbage collector")
	_ = fs.MarkDeprecated("injected-service-grace-period", "it has no effect: headless-guard creates injected Services only for StatefulSets the API server stored, owned by them")
	fs.StringVar(&o.ClientCAFile, "client-ca-file", "", "PEM file of the CAs whose client certificates the webhook server accepts (re-read when it changes); when set, a caller without such a certificate (anyone but the API server) fails the TLS handshake")
	fs.StringSliceVar(&o.ClientNames, "client-allowed-names", nil, "with --client-ca-file: the client certificate names (subject common name or DNS name) served; default any certificate the CAs issued")
	fs.DurationVar(&o.ShutdownDelay, "shutdown-delay", 0, "on SIGTERM, report not ready and keep serving this long before stopping, so that endpoints drop the pod first (5s in deploy/)")
	fs.BoolVar(&o.Audit, "audit", true, "audit existing objects: Events on offenders and the headless_guard_audit_violations gauge")
	fs.DurationVar(&o.AuditGracePeriod, "audit-grace-period", 2*time.Minute, "with --audit: how long a finding must persist before it is reported (a Service created after its StatefulSet, by kubectl apply or an operator, is never reported); 0 reports at once")
	fs.BoolVar(&o.AuditReports, "audit-reports", true, "with --audit: keep the findings as one openreports.io/v1alpha1 Report per namespace (when its CRD is installed)")
	o.Certs.AddFlags(fs)
	goflags := flag.NewFlagSet("zap", flag.ContinueOnError)
	o.zap.BindFlags(goflags)
	fs.AddGoFlagSet(goflags)
}

// Policy validates the rule options and returns the global policy.
func (o *ServeOptions) Policy(reg *rules.Registry) (rules.Policy, error) {
	var p rules.Policy
	mode, err := rules.ParseMode(o.Mode)
	if err != nil {
		return p, fmt.Errorf("invalid --mode: %w", err)
	}
	p.Mode, p.ClusterDomain = mode, o.ClusterDomain
	if p.Level, err = rules.ParseLevel(o.PolicyLevel); err != nil {
		return p, fmt.Errorf("invalid --policy: %w", err)
	}
	if p.ControllerOwned, err = rules.ParseControllerOwned(o.ControllerOwned); err != nil {
		return p, fmt.Errorf("invalid --controller-owned: %w", err)
	}
	if o.AuditGracePeriod < 0 {
		return p, fmt.Errorf("invalid --audit-grace-period %s: must be 0 or more", o.AuditGracePeriod)
	}
	switch o.DryRunMissingService {
	case "warn":
	case "deny":
		p.DenyMissingServiceOnDryRun = true
	default:
		return p, fmt.Errorf("invalid --dry-run-missing-service %q: must be warn or deny", o.DryRunMissingService)
	}
	for _, r := range o.Rules {
		if err := p.SetOverride(reg, r); err != nil {
			return p, fmt.Errorf("invalid --rule: %w", err)
		}
	}
	return p, nil
}

func (o *ServeOptions) tlsOptions() ([]func(*tls.Config), error) {
	var min uint16
	switch strings.TrimPrefix(o.TLSMinVersion, "VersionTLS") {
	case "1.2", "12":
		min = tls.VersionTLS12
	case "1.3", "13":
		min = tls.VersionTLS13
	default:
		return nil, fmt.Errorf("invalid --tls-min-version %q: must be 1.2 or 1.3", o.TLSMinVersion)
	}
	opts := []func(*tls.Config){func(c *tls.Config) { c.MinVersion = min }}
	if !o.EnableHTTP2 {
		opts = append(opts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	}
	return opts, nil
}

// restConfig is the API server connection. Its rate limit is higher than
// controller-runtime's 20 QPS: every cache miss is a live read inside an
// admission request, and under a burst of StatefulSets naming Services that
// do not exist the client-side limiter, not the API server, set the
// latency (seconds at 20 QPS with four writers).
func (o *ServeOptions) restConfig() (*rest.Config, error) {
	var cfg *rest.Config
	var err error
	if o.Kubeconfig != "" {
		cfg, err = clientcmd.BuildConfigFromFlags("", o.Kubeconfig)
	} else {
		cfg, err = ctrl.GetConfig()
	}
	if err != nil {
		return nil, err
	}
	cfg.QPS, cfg.Burst = o.KubeAPIQPS, o.KubeAPIBurst
	return cfg, nil
}

// NewServeCommand returns `headless-guard serve`.
func NewServeCommand(s Streams) *cobra.Command {
	o := &ServeOptions{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the admission webhook server",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServe(cmd, s, o)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func runServe(cmd *cobra.Command, s Streams, o *ServeOptions) error {
	reg := rules.Default()
	policy, err := o.Policy(reg)
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: err, Usage: true}
	}
	tlsOpts, err := o.tlsOptions()
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: err, Usage: true}
	}
	if len(o.ClientNames) > 0 && o.ClientCAFile == "" {
		return &ExitError{Code: ExitUsage, Err: errors.New("--client-allowed-names needs --client-ca-file"), Usage: true}
	}
	o.zap.DestWriter = s.Err
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&o.zap)))
	log := ctrl.Log.WithName("setup")
	if n := setMemoryLimit("/sys/fs/cgroup"); n > 0 {
		log.Info("soft memory limit from the container's", "bytes", n)
	}

	// The serving certificate: files or self-managed (serve_certs.go).
	serving, err := o.servingCertificate()
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: err, Usage: true}
	}

	cfg, err := o.restConfig()
	if err != nil {
		return fmt.Errorf("loading kubeconfig: %w", err)
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme: scheme.Scheme,
		// Both are served within limits by addLimitedServers.
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		PprofBindAddress:       o.PprofBindAddress,
		WebhookServer: admissionhttp.NewServer(admissionhttp.ServerOptions{
			Host: o.WebhookHost, Port: o.WebhookPort,
			CertDir: o.WebhookCertPath, CertName: o.WebhookCertName, KeyName: o.WebhookCertKey,
			TLSOpts:      append(slices.Clip(tlsOpts), serving.TLSOption),
			ClientCAFile: o.ClientCAFile, ClientNames: o.ClientNames,
		}),
		Cache:                   cache.Options{DefaultTransform: lookup.StripForCache},
		LeaderElection:          o.LeaderElect,
		LeaderElectionID:        "headless-guard.io",
		LeaderElectionNamespace: o.LeaderElectionNS,
		// Step down at once on SIGTERM so that another replica takes over.
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		return fmt.Errorf("creating manager: %w", err)
	}
	if mgr, err = o.addLimitedServers(mgr, append(slices.Clip(tlsOpts), serving.TLSOption)); err != nil {
		return fmt.Errorf("setting up the health and metrics servers: %w", err)
	}
	if err := o.setupCertificates(mgr, serving); err != nil {
		return fmt.Errorf("setting up the serving certificate: %w", err)
	}
	shutdown := &drain{}
	ctx := shutdown.start(o.ShutdownDelay, log)
	go boundGCHeadroom(ctx)
	if err := mgr.AddReadyzCheck("draining", shutdown.readyCheck); err != nil {
		return err
	}
	lk, namespaces, err := webhook.CacheLookups(ctx, mgr)
	if err != nil {
		return fmt.Errorf("setting up the informer lookups: %w", err)
	}
	whCfg := &webhook.Config{
		Lookup: lk, Namespaces: namespaces,
		Registry: reg,
		Policy:   policy,
		Fixes:    rules.FixOptions{InjectService: o.Inject, FixLabels: o.FixLabels, PublishNotReadyAddresses: o.PublishNotReady},
		Draining: shutdown.draining.Load,
	}
	if err := webhook.Setup(ctx, mgr, whCfg); err != nil {
		return fmt.Errorf("setting up webhooks: %w", err)
	}
	injector := &controller.Injector{Client: mgr.GetClient(), Lookup: lk, Fixes: whCfg.Fixes, Recorder: mgr.GetEventRecorder("headless-guard")}
	if err := injector.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the injected-Service reconciler: %w", err)
	}
	if o.Audit {
		if err := controller.RegisterMetrics(); err != nil {
			return err
		}
		audit := &controller.Audit{
			Client: mgr.GetClient(), Live: mgr.GetAPIReader(), Lookup: lk,
			Registry: reg, Policy: policy, Namespaces: namespaces, Recorder: mgr.GetEventRecorder("headless-guard"),
			GracePeriod: o.AuditGracePeriod,
		}
		if o.AuditReports {
			audit.Reports = &controller.Reports{Client: mgr.GetClient(), Live: mgr.GetAPIReader(), Recorder: mgr.GetEventRecorder("headless-guard")}
		}
		if err := audit.SetupWithManager(mgr); err != nil {
			return fmt.Errorf("setting up the audit: %w", err)
		}
	}
	log.Info("starting headless-guard", "version", version.String(), "mode", policy.Mode, "policy", policy.Level, "controllerOwned", policy.ControllerOwned, "auditGracePeriod", o.AuditGracePeriod, "webhookPort", o.WebhookPort, "inject", o.Inject, "fixLabels", o.FixLabels)
	if err := mgr.Start(ctx); err != nil && !errors.Is(err, ctx.Err()) {
		return err
	}
	return nil
}
