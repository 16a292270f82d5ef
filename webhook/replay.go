package webhook

// The replay of a captured AdmissionReview (`check --admission-review`):
// the webhook's own handlers over the webhook's own lookups, answered
// without a server. It lives here, not in the offline checker, so that the
// checker links no controller-runtime.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/rest"
	ctrlcache "sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/headless-guard/headless-guard/internal/lookup"
	"github.com/headless-guard/headless-guard/rules"
)

// ReplayOptions configure Replay.
type ReplayOptions struct {
	// Path picks the webhook (PathValidateStatefulSets...); ""
	// is the validating webhook registered for the review's kind and
	// operation.
	Path string
	// Cluster is the live cluster to look objects up in; nil is an
	// empty cluster.
	Cluster *rest.Config
	// Registry and Policy are the webhook's (Config).
	Registry *rules.Registry
	Policy   rules.Policy
}

// ReadReview reads a captured AdmissionReview, JSON or YAML.
func ReadReview(data []byte) (*admissionv1.AdmissionReview, error) {
	j, err := sigsyaml.YAMLToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("invalid YAML: %w", err)
	}
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(j, &review); err != nil {
		return nil, fmt.Errorf("must be an AdmissionReview: %w", err)
	}
	if review.Request == nil {
		return nil, errors.New("`request` is required: the file must be an AdmissionReview as the API server sends it")
	}
	if review.Kind != "" && review.Kind != "AdmissionReview" {
		return nil, fmt.Errorf("`kind` must be AdmissionReview, not %s", review.Kind)
	}
	return &review, nil
}

// Replay runs the webhook's handler on a captured review and returns the
// review with the response the webhook would send (`check
// --admission-review`). With a cluster, lookups read its objects of the
// review's namespace through the same informer indexes the webhook
// serves from; without one, the cluster is empty.
func Replay(ctx context.Context, review *admissionv1.AdmissionReview, opts ReplayOptions) (*admissionv1.AdmissionReview, string, error) {
	cfg := &Config{Registry: opts.Registry, Policy: opts.Policy}
	req := review.Request
	if opts.Cluster != nil {
		live, err := client.New(opts.Cluster, client.Options{})
		if err != nil {
			return nil, "", fmt.Errorf("connecting to the cluster: %w", err)
		}
		// One namespace, by field selector: a cache of DefaultNamespaces
		// is a multi-namespace informer, whose store the indexes cannot
		// reach.
		cache, err := ctrlcache.New(opts.Cluster, ctrlcache.Options{DefaultFieldSelector: fields.OneTermEqualSelector("metadata.namespace", req.Namespace)})
		if err != nil {
			return nil, "", err
		}
		indexes, err := lookup.SetupIndexes(ctx, cache)
		if err != nil {
			return nil, "", err
		}
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go func() { _ = cache.Start(cctx) }()
		if !cache.WaitForCacheSync(ctx) {
			return nil, "", fmt.Errorf("reading namespace %s of the cluster: %w", req.Namespace, ctx.Err())
		}
		cfg.Lookup = &lookup.CacheLookup{Cache: cache, Live: live, Indexes: indexes}
		cfg.Namespaces = &lookup.Namespaces{Cache: live, Live: live}
	} else {
		// The webhook's lookups over a cluster with nothing in it.
		var err error
		if cfg.Lookup, cfg.Namespaces, err = lookup.InMemory(ctx); err != nil {
			return nil, "", err
		}
	}
	path, handler := pick(Webhooks(cfg), req, opts.Path)
	if handler == nil {
		if opts.Path != "" {
			return nil, "", fmt.Errorf("no webhook is served on %q", opts.Path)
		}
		return nil, "", fmt.Errorf("no validating webhook of headless-guard is registered for %s %s: give one with --webhook-path", req.Operation, req.Kind.Kind)
	}
	resp := handler.Handle(ctx, admission.Request{AdmissionRequest: *req})
	resp.UID = req.UID
	out := &admissionv1.AdmissionReview{Response: &resp.AdmissionResponse}
	out.APIVersion, out.Kind = admissionv1.SchemeGroupVersion.String(), "AdmissionReview"
	if review.APIVersion != "" {
		out.APIVersion = review.APIVersion
	}
	return out, path, nil
}

// pick returns the webhook at path, or the validating webhook registered
// for the request's kind and operation.
func pick(hooks []Webhook, req *admissionv1.AdmissionRequest, path string) (string, admission.Handler) {
	for _, wh := range hooks {
		if path != "" {
			if wh.Path == path {
				return wh.Path, wh.Handler
			}
			continue
		}
		if v, ok := wh.Handler.(*Validator); ok && slices.Contains(v.Kinds, req.Kind.Kind) && slices.Contains(v.Operations, req.Operation) {
			return wh.Path, wh.Handler
		}
	}
	return "", nil
}
