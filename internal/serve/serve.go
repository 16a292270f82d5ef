package serve

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/headless-guard/headless-guard/internal/admissionhttp"
	"github.com/headless-guard/headless-guard/internal/controller"
	"github.com/headless-guard/headless-guard/internal/lookup"
	"github.com/headless-guard/headless-guard/internal/version"
	"github.com/headless-guard/headless-guard/rules"
	"github.com/headless-guard/headless-guard/webhook"
)

// Run runs headless-guard's server with o until ctx ends or the first
// SIGTERM or SIGINT has drained it (shutdown.go): one controller-runtime
// manager with the webhook server (internal/admissionhttp) and the five
// webhooks (package webhook), the limited health and metrics servers
// (servers.go), the serving certificate (certs.go), the injected-Service
// reconciler and the audit (internal/controller), all reading one informer
// cache through the same lookups. The logger is the caller's
// (ctrl.SetLogger).
func Run(ctx context.Context, o Options) error {
	reg := rules.Default()
	policy, err := o.Policy(reg)
	if err != nil {
		return err
	}
	tlsOpts, err := o.tlsOptions()
	if err != nil {
		return err
	}
	log := ctrl.Log.WithName("setup")
	if n := setMemoryLimit("/sys/fs/cgroup"); n > 0 {
		log.Info("soft memory limit from the container's", "bytes", n)
	}

	// The serving certificate: files or self-managed (certs.go).
	serving, err := o.servingCertificate()
	if err != nil {
		return err
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
		Cache:                   cache.Options{DefaultTransform: lookup.StripForCache, NewInformer: lookup.NewInformer},
		LeaderElection:          o.LeaderElect,
		LeaderElectionID:        "headless-guard.io",
		LeaderElectionNamespace: o.LeaderElectionNS,
		// Step down at once on SIGTERM so that another replica takes over.
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		return fmt.Errorf("creating manager: %w", err)
	}
	pm, err := o.addLimitedServers(mgr, append(slices.Clip(tlsOpts), serving.TLSOption))
	if err != nil {
		return fmt.Errorf("setting up the health and metrics servers: %w", err)
	}
	mgr = pm
	if err := o.setupCertificates(mgr, serving); err != nil {
		return fmt.Errorf("setting up the serving certificate: %w", err)
	}
	shutdown := &drain{}
	ctx = shutdown.start(ctx, o.ShutdownDelay, log)
	go boundGCHeadroom(ctx)
	if err := mgr.AddReadyzCheck("draining", shutdown.readyCheck); err != nil {
		return err
	}
	// One informer cache, read through the same lookups by the webhooks,
	// the reconciler and the audit.
	lk, namespaces, err := webhook.CacheLookups(ctx, mgr)
	if err != nil {
		return fmt.Errorf("setting up webhooks: %w", err)
	}
	whCfg := &webhook.Config{
		Registry:   reg,
		Policy:     policy,
		Fixes:      rules.FixOptions{InjectService: o.Inject, FixLabels: o.FixLabels, PublishNotReadyAddresses: o.PublishNotReady},
		Lookup:     lk,
		Namespaces: namespaces,
		Draining:   shutdown.draining.Load,
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
	mgrCtx, stopEarly := pm.startEarly(ctx)
	err = mgr.Start(mgrCtx)
	if early := stopEarly(); early != nil {
		return early
	}
	if err != nil && !errors.Is(err, mgrCtx.Err()) {
		return err
	}
	return nil
}
