package check

import (
	"fmt"
	"path/filepath"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/headless-guard/headless-guard/internal/manifest"
	"github.com/headless-guard/headless-guard/internal/report"
	"github.com/headless-guard/headless-guard/rules"
)

// Nothing passes unseen: what the rules cannot report is a notice. The
// loader's warnings (a key set twice), an object defined twice, and an
// object that looks like a workload but is of a kind or version the rules
// do not evaluate.

// objectKey identifies an object as the API server does: an object of one
// group, kind, namespace and name is one object, whatever its version.
type objectKey struct {
	group, kind, namespace, name string
}

// shadowed returns, for each definition of an object that another one
// defined later in the input replaces, that last definition: `kubectl
// apply` of the same input applies every definition in input order, and
// the last one is what the cluster keeps. Objects named by generateName
// are new objects each time, never the same.
func shadowed(set *manifest.Set, namespace string) map[*manifest.Object]*manifest.Object {
	if namespace == "" {
		namespace = "default"
	}
	last := make(map[objectKey]*manifest.Object, len(set.Objects))
	var out map[*manifest.Object]*manifest.Object
	var repeated []*manifest.Object
	for _, o := range set.Objects {
		if o.Ref.Name == "" || o.Generated {
			continue
		}
		gv, _ := schema.ParseGroupVersion(o.Ref.APIVersion)
		k := objectKey{gv.Group, o.Ref.Kind, o.Ref.Namespace, o.Ref.Name}
		if k.namespace == "" {
			k.namespace = namespace
		}
		if prev := last[k]; prev != nil {
			if out == nil {
				out = map[*manifest.Object]*manifest.Object{}
			}
			out[prev] = nil
			repeated = append(repeated, prev)
		}
		last[k] = o
	}
	for _, o := range repeated {
		gv, _ := schema.ParseGroupVersion(o.Ref.APIVersion)
		k := objectKey{gv.Group, o.Ref.Kind, o.Ref.Namespace, o.Ref.Name}
		if k.namespace == "" {
			k.namespace = namespace
		}
		out[o] = last[k]
	}
	return out
}

// removedVersions are the API versions of workloads that API servers no
// longer serve, with the release that removed them and the version to use.
var removedVersions = map[string]struct{ removedIn, use string }{
	"extensions/v1beta1": {"1.16", "apps/v1"},
	"apps/v1beta1":       {"1.16", "apps/v1"},
	"apps/v1beta2":       {"1.16", "apps/v1"},
	"batch/v2alpha1":     {"1.21", "batch/v1"},
	"batch/v1beta1":      {"1.25", "batch/v1"},
}

// whyNotChecked says why the rules did not evaluate an object that looks
// like a workload, or "" for one they evaluated or that is no workload.
func whyNotChecked(o *manifest.Object) string {
	if o.IsTyped() {
		return ""
	}
	if v := manifest.TypedVersion(o.Ref.Kind); v != "" {
		if r, ok := removedVersions[o.Ref.APIVersion]; ok && v == r.use {
			return fmt.Sprintf("the rules did not evaluate it: `apiVersion: %s` is not served since Kubernetes %s (`kubectl apply` fails with \"no matches for kind %s\"); it must be `%s`", o.Ref.APIVersion, r.removedIn, o.Ref.Kind, r.use)
		}
		if o.Workload || o.Ref.Kind == "Service" {
			return fmt.Sprintf("the rules did not evaluate it: they read a %s of `apiVersion: %s`, not `%s`", o.Ref.Kind, v, o.Ref.APIVersion)
		}
		return ""
	}
	if o.Workload {
		return fmt.Sprintf("the rules did not evaluate it: it has a pod template, but %s (`%s`) is not a kind they read, so its `subdomain` and the Services that select its pods are not checked", o.Ref.Kind, o.Ref.APIVersion)
	}
	return ""
}

// duplicateMessage says which definition is checked; definitions in two
// directories are often two environments, applied apart, and then want
// checking apart.
func duplicateMessage(o, winner *manifest.Object, at string) string {
	msg := fmt.Sprintf("defined again at %s, which kubectl applies last and is the definition checked; an object must be defined once in the input", at)
	a, b := filepath.Dir(o.File.Path), filepath.Dir(winner.File.Path)
	if a != b && o.File.Path != manifest.StdinName && winner.File.Path != manifest.StdinName {
		msg += fmt.Sprintf(" (if %s and %s are applied apart, check them apart: one PATH each, or `--scope dir`)", a, b)
	}
	return msg
}

// quoteAll is "`a`, `b`".
func quoteAll(ss []string) string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = "`" + s + "`"
	}
	return strings.Join(out, ", ")
}

// notices collects the notices of a loaded set, in input order.
func notices(set *manifest.Set, shadow map[*manifest.Object]*manifest.Object, reg *rules.Registry) []report.Notice {
	var out []report.Notice
	byObject := map[*manifest.Object][]manifest.Warning{}
	var loose []manifest.Warning
	for _, w := range set.Warnings {
		if w.Object == nil {
			loose = append(loose, w)
			continue
		}
		byObject[w.Object] = append(byObject[w.Object], w)
	}
	warning := func(w manifest.Warning, obj *manifest.Object) report.Notice {
		n := report.Notice{Reason: w.Reason, Location: report.Location{File: w.File, Line: w.Line}, Field: w.Field, Message: w.Message}
		if w.OtherLine > 0 {
			n.Related = []report.Location{{File: w.File, Line: w.OtherLine}}
		}
		if obj != nil {
			n.Object = obj.Ref
		}
		return n
	}
	for _, w := range loose {
		out = append(out, warning(w, nil))
	}
	for _, o := range set.Objects {
		for _, w := range byObject[o] {
			out = append(out, warning(w, o))
		}
		if winner, ok := shadow[o]; ok {
			at := fmt.Sprintf("%s:%d", winner.File.Path, winner.Line())
			out = append(out, report.Notice{
				Reason:   report.NoticeDuplicateObject,
				Object:   o.Ref,
				Location: report.Location{File: o.File.Path, Line: o.Line()},
				Related:  []report.Location{{File: winner.File.Path, Line: winner.Line()}},
				Message:  duplicateMessage(o, winner, at),
			})
			continue
		}
		// Strip keeps the annotation that UnknownSkips reads: an encoded
		// object without annotations has none to decode.
		if o.Typed != nil || o.Enc.Annotated() {
			if unknown := reg.UnknownSkips(o.TypedObject()); len(unknown) > 0 {
				out = append(out, report.Notice{
					Reason:   report.NoticeUnknownSkip,
					Object:   o.Ref,
					Location: report.Location{File: o.File.Path, Line: o.FieldLine("metadata.annotations")},
					Field:    "metadata.annotations[" + rules.SkipAnnotation + "]",
					Message:  fmt.Sprintf("`metadata.annotations[%s]` names %s, which is no rule ID: it skips nothing, and the rules still run; each entry must be a rule ID such as `HG004`, or `all`", rules.SkipAnnotation, quoteAll(unknown)),
				})
			}
		}
		if why := whyNotChecked(o); why != "" {
			out = append(out, report.Notice{
				Reason:   report.NoticeNotChecked,
				Object:   o.Ref,
				Location: report.Location{File: o.File.Path, Line: o.Line()},
				Message:  why,
			})
		}
	}
	return out
}
