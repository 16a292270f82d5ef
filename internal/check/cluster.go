package check

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/headless-guard/headless-guard/internal/manifest"
	"github.com/headless-guard/headless-guard/internal/report"
	"github.com/headless-guard/headless-guard/rules"
)

// ClusterTimeout bounds the reads of the live cluster of one run.
const ClusterTimeout = 2 * time.Minute

// RESTConfig loads a kubeconfig as kubectl does: the explicit file, else
// $KUBECONFIG and ~/.kube/config, else the in-cluster configuration.
func RESTConfig(kubeconfig, context string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: context}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("reading the kubeconfig: %w", err)
	}
	cfg.UserAgent = "headless-guard-check"
	// What cannot connect at all (unreadable certificate files) is said
	// here, before any input is read.
	if _, err := rest.HTTPClientFor(cfg); err != nil {
		return nil, fmt.Errorf("connecting to the cluster: %w", err)
	}
	return cfg, nil
}

// cluster reads the objects the rules look up from a live cluster, once
// per namespace, read-only (list). It speaks to the API server through
// client-go's REST client alone: the offline checker links no
// controller-runtime.
type cluster struct {
	cfg  *rest.Config
	http *http.Client
	// clients are the REST clients of each group version, made on first use.
	clients map[schema.GroupVersion]rest.Interface
	// warnings say what could not be read (a kind the credentials may not
	// list), for logWarnings.
	warnings []string
	// listed holds each namespace's objects once read; "" is all namespaces.
	listed map[string][]runtime.Object
}

// newCluster connects to the cluster of cfg.
func newCluster(cfg *rest.Config) (*cluster, error) {
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to the cluster: %w", err)
	}
	return &cluster{cfg: cfg, http: hc, clients: map[schema.GroupVersion]rest.Interface{}, listed: map[string][]runtime.Object{}}, nil
}

// logWarnings prints what could not be read of the cluster.
func (c *cluster) logWarnings(w io.Writer) {
	for _, msg := range c.warnings {
		fmt.Fprintf(w, "warning: cluster: %s\n", msg)
	}
}

// restClient returns the REST client of gv.
func (c *cluster) restClient(gv schema.GroupVersion) (rest.Interface, error) {
	if rc, ok := c.clients[gv]; ok {
		return rc, nil
	}
	cfg := rest.CopyConfig(c.cfg)
	cfg.GroupVersion = &gv
	cfg.APIPath = "/apis"
	if gv.Group == "" {
		cfg.APIPath = "/api"
	}
	cfg.NegotiatedSerializer = clientgoscheme.Codecs.WithoutConversion()
	rc, err := rest.RESTClientForConfigAndClient(cfg, c.http)
	if err != nil {
		return nil, fmt.Errorf("connecting to the cluster: %w", err)
	}
	c.clients[gv] = rc
	return rc, nil
}

// listKind lists the objects of one kind in namespace ("" for all).
func (c *cluster) listKind(ctx context.Context, k *rules.KindInfo, namespace string) (runtime.Object, error) {
	rc, err := c.restClient(k.GVK.GroupVersion())
	if err != nil {
		return nil, err
	}
	list := k.NewList()
	// The kinds the rules read are all named regularly (services,
	// statefulsets, cronjobs...).
	plural, _ := meta.UnsafeGuessKindToResource(k.GVK)
	err = rc.Get().NamespaceIfScoped(namespace, namespace != "").Resource(plural.Resource).Do(ctx).Into(list)
	return list, err
}

// list returns the objects of the kinds the rules read in namespace (all
// namespaces for ""), but the copies controllers make of a template (a
// Deployment's ReplicaSets, a StatefulSet's Pods): the rules never see
// them in an index either.
func (c *cluster) list(ctx context.Context, namespace string) ([]runtime.Object, error) {
	if objs, ok := c.listed[namespace]; ok {
		return objs, nil
	}
	var out []runtime.Object
	for _, k := range rules.Kinds {
		list, err := c.listKind(ctx, k, namespace)
		if err != nil {
			where := "all namespaces"
			if namespace != "" {
				where = "namespace " + namespace
			}
			// Without Services or StatefulSets nothing is checked right;
			// without another workload kind, only what selects its pods.
			if apierrors.IsForbidden(err) && k.Name != rules.KindService && k.Name != rules.KindStatefulSet {
				c.warnings = append(c.warnings, fmt.Sprintf("may not list %ss of %s (%v): Services that select their pods are checked as if there were none", k.Name, where, err))
				continue
			}
			return nil, fmt.Errorf("listing %ss of %s in the cluster: %w", k.Name, where, err)
		}
		items, err := meta.ExtractList(list)
		if err != nil {
			return nil, err
		}
		for _, obj := range items {
			if rules.Derived(obj) {
				continue
			}
			rules.Strip(obj)
			out = append(out, obj)
		}
	}
	c.listed[namespace] = out
	return out, nil
}

// complete adds to idx the cluster's objects of every namespace that the
// objects of set are in, but those the set defines too: an object of the
// input is what the cluster will hold once it is applied.
func (c *cluster) complete(idx *rules.CompactIndex, set *manifest.Set) error {
	ctx, cancel := context.WithTimeout(context.Background(), ClusterTimeout)
	defer cancel()
	inInput := map[rules.ObjectRef]bool{}
	namespaces := map[string]bool{}
	for _, o := range set.Objects {
		if !o.IsTyped() {
			continue
		}
		ref := o.Ref
		if o.Generated {
			ref.Name = "" // Ref names it by its generateName
		}
		inInput[key(ref)] = true
		namespaces[ref.Namespace] = true
	}
	names := make([]string, 0, len(namespaces))
	for ns := range namespaces {
		names = append(names, ns)
	}
	sort.Strings(names)
	for _, ns := range names {
		objs, err := c.list(ctx, ns)
		if err != nil {
			return err
		}
		for _, obj := range objs {
			if !inInput[key(rules.RefOf(obj))] {
				idx.Add(obj)
			}
		}
	}
	return nil
}

// key is an object's identity: kind, namespace, name (not the version).
func key(r rules.ObjectRef) rules.ObjectRef {
	return rules.ObjectRef{Kind: r.Kind, Namespace: r.Namespace, Name: r.Name}
}

// audit checks every object of the cluster against the others, as
// admission would check it created today, and reports it as `check`
// reports manifests; each object's location is ClusterLocation.
func (c *cluster) audit(opts Options) (*report.Report, error) {
	ctx, cancel := context.WithTimeout(context.Background(), ClusterTimeout)
	defer cancel()
	reg := opts.Registry
	if reg == nil {
		reg = rules.Default()
	}
	objs, err := c.list(ctx, "")
	if err != nil {
		return nil, err
	}
	idx := rules.NewIndex()
	for _, obj := range objs {
		idx.Add(obj)
	}
	// Namespaces, then kinds in the rules' order, then names.
	sort.SliceStable(objs, func(i, j int) bool {
		a, b := rules.RefOf(objs[i]), rules.RefOf(objs[j])
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		if a.Kind != b.Kind {
			return kindOrder(a.Kind) < kindOrder(b.Kind)
		}
		return a.Name < b.Name
	})
	rep := &report.Report{Registry: reg, Objects: make([]report.Object, 0, len(objs))}
	var all []report.Finding
	for _, obj := range objs {
		ref := rules.RefOf(obj)
		loc := clusterLocation(ref)
		res, err := reg.Evaluate(&rules.Request{Operation: rules.Create, Object: obj}, idx, &opts.Policy)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ref, err)
		}
		rep.Objects = append(rep.Objects, report.Object{Ref: ref, Location: loc, Skipped: res.Skipped})
		for _, f := range res.Findings {
			all = append(all, report.Finding{Finding: f, Location: loc})
		}
	}
	rep.Findings = dedupe(all)
	return rep, nil
}

// clusterLocation is where a finding about a live object is:
// `cluster:<namespace>/<kind>/<name>`, line 0.
func clusterLocation(ref rules.ObjectRef) report.Location {
	return report.Location{File: report.ClusterPrefix + ref.Namespace + "/" + ref.Kind + "/" + ref.Name}
}

func kindOrder(kind string) int {
	for i, k := range rules.Kinds {
		if k.Name == kind {
			return i
		}
	}
	return len(rules.Kinds)
}
