package serve

import (
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/headless-guard/headless-guard/rules"
)

// Options are what `headless-guard serve` runs with. internal/cli maps the
// command's flags onto them (the flag of each field is named in its
// comment where the names differ); Validate checks them.
type Options struct {
	Kubeconfig   string
	KubeAPIQPS   float32
	KubeAPIBurst int
	// WebhookCertPath, WebhookCertName and WebhookCertKey are
	// --webhook-cert-path, --webhook-cert-name and --webhook-cert-key.
	WebhookCertPath string
	WebhookCertName string
	WebhookCertKey  string
	WebhookHost     string
	WebhookPort     int
	// MetricsBindAddress is --metrics-bind-address; "0" or "" disables it.
	MetricsBindAddress string
	MetricsSecure      bool
	// MetricsTokenAudiences, when set, are the audiences a scraper's
	// token must be issued for (metricsauth.go).
	MetricsTokenAudiences []string
	// HealthProbeBindAddr is --health-probe-bind-address.
	HealthProbeBindAddr string
	PprofBindAddress    string
	EnableHTTP2         bool
	TLSMinVersion       string
	Mode                string
	// PolicyLevel is --policy.
	PolicyLevel     string
	ControllerOwned string
	// Rules are the --rule overrides, e.g. "HG004=warn".
	Rules                []string
	DryRunMissingService string
	Inject               bool
	FixLabels            bool
	// PublishNotReady is --publish-not-ready-addresses.
	PublishNotReady bool
	ClusterDomain   string
	LeaderElect     bool
	// LeaderElectionNS is --leader-election-namespace.
	LeaderElectionNS string
	ClientCAFile     string
	// ClientNames is --client-allowed-names.
	ClientNames      []string
	Audit            bool
	AuditReports     bool
	AuditGracePeriod time.Duration
	ShutdownDelay    time.Duration
	// Certs are the serving-certificate options (certs.go).
	Certs CertOptions
}

// Validate checks the options, in the order the flags are reported: the
// policy, the TLS version, the client names, the certificate options. An
// error is the user's to fix on the command line.
func (o *Options) Validate() error {
	if _, err := o.Policy(rules.Default()); err != nil {
		return err
	}
	if _, err := o.tlsOptions(); err != nil {
		return err
	}
	if len(o.ClientNames) > 0 && o.ClientCAFile == "" {
		return errors.New("--client-allowed-names needs --client-ca-file")
	}
	return o.Certs.Validate()
}

// Policy validates the rule options and returns the global policy.
func (o *Options) Policy(reg *rules.Registry) (rules.Policy, error) {
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

func (o *Options) tlsOptions() ([]func(*tls.Config), error) {
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
func (o *Options) restConfig() (*rest.Config, error) {
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
