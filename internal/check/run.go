package check

import (
	"errors"
	"io"
	"sort"

	"k8s.io/client-go/rest"

	"github.com/headless-guard/headless-guard/internal/manifest"
	"github.com/headless-guard/headless-guard/internal/report"
	"github.com/headless-guard/headless-guard/rules"
)

// Options configure one run of the checker (Run, Fix).
type Options struct {
	// Paths are files, directories or "-".
	Paths []string
	// Stdin is read for "-".
	Stdin io.Reader
	// Namespace is given to objects without one.
	Namespace string
	// Registry defaults to rules.Default().
	Registry *rules.Registry
	// Policy carries rule overrides and the mode.
	Policy rules.Policy
	// Scope says which inputs are checked together; "" is ScopePath.
	Scope Scope
	// Exclude are gitignore-style patterns of paths not to read.
	Exclude []string
	// Cluster is the live cluster to read (`--cluster`), read-only: its
	// objects complete the index of each unit (objects of the input win),
	// and with no Paths, Run checks every object of it. nil reads none.
	Cluster *rest.Config
	// Out receives the manifests Fix writes: all of them, or with write
	// only standard input's, which cannot be rewritten in place. nil
	// discards them.
	Out io.Writer
	// Log receives what a run says beside its report: what could not be
	// read of the cluster, and for Fix, each fix applied and each file
	// written. nil discards it.
	Log io.Writer

	// fixing keeps the manifests' YAML trees so that the fixes can edit
	// them.
	fixing bool
	// complete, when set, adds objects the input does not hold to the
	// index of each unit (the live cluster's).
	complete func(idx *rules.CompactIndex, set *manifest.Set) error
}

// Result is a run's outcome.
type Result struct {
	Report *report.Report
	// Empty are the inputs under which no object was found.
	Empty []EmptyInput
	// units are the scopes checked, each with its manifests.
	units []*unit
}

// Run loads the manifests of opts.Paths and checks them, each scope on its
// own (Options.Scope); with no Paths and a Cluster, it checks the cluster's
// objects instead. A *manifest.ParseError means unreadable input.
func Run(opts Options) (*Result, error) {
	return run(&opts)
}

// Fix is `check --fix`: it runs the checker as Run does, applies every fix
// of each unit (injected Services appended to the StatefulSet's file, empty
// serviceNames set, missing selector labels added, unnamed ports named),
// writes the manifests (to opts.Out, or with write the changed files in
// place) and checks them again. The report is of what is left after
// fixing, with the files Run skipped.
func Fix(opts Options, write bool) (*Result, error) {
	if len(opts.Paths) == 0 {
		return nil, errors.New("--fix needs manifests to fix")
	}
	opts.fixing = true
	res, err := run(&opts)
	if err != nil {
		return nil, err
	}
	rep, err := fixUnits(res.units, opts, write)
	if err != nil {
		return nil, err
	}
	rep.Skipped = res.Report.Skipped
	res.Report = rep
	return res, nil
}

// run is Run; it leaves opts.complete set for Fix.
func run(opts *Options) (*Result, error) {
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	var live *cluster
	if opts.Cluster != nil {
		var err error
		if live, err = newCluster(opts.Cluster); err != nil {
			return nil, err
		}
		opts.complete = live.complete
	}
	var res *Result
	var err error
	if len(opts.Paths) == 0 && live != nil {
		var rep *report.Report
		if rep, err = live.audit(*opts); err == nil {
			res = &Result{Report: rep}
		}
	} else {
		res, err = load(*opts)
	}
	if err != nil {
		return nil, err
	}
	if live != nil {
		live.logWarnings(opts.Log)
	}
	return res, nil
}

// load reads the manifests, groups them into units and checks each. A
// unit is parsed, evaluated and, but when fixing, let go before the next
// one is parsed: memory follows the largest unit, not the whole input (a
// repository of many kustomizations and charts is many units).
func load(opts Options) (*Result, error) {
	lopts := manifest.Options{Namespace: opts.Namespace, Stdin: opts.Stdin, KeepNodes: opts.fixing, Encode: !opts.fixing, DropText: !opts.fixing, Exclude: opts.Exclude}
	sources, skipped, err := manifest.Collect(opts.Paths, lopts)
	if err != nil {
		return nil, err
	}
	units := group(opts.Scope, sources)
	if lopts.DropText {
		// The units hold the text now, and Parse drops it from there
		// file by file as it goes (but that of standard input and pipes,
		// which the units keep).
		for i := range sources {
			sources[i].Data = nil
		}
	}
	allSkipped := append([]manifest.Skip(nil), skipped...)
	counts := newInputCounts(len(opts.Paths))
	reps := make([]*report.Report, 0, len(units))
	for _, u := range units {
		set, err := manifest.Parse(u.sources, lopts)
		if err != nil {
			return nil, err
		}
		allSkipped = append(allSkipped, set.Skipped...)
		counts.add(set)
		rep, err := evaluate(set, opts)
		if err != nil {
			return nil, err
		}
		reps = append(reps, rep)
		if opts.fixing {
			u.Set = set
		} else {
			u.sources = nil // standard input's text
		}
	}
	rep := mergeUnits(reps, opts)
	rep.Skipped = append(skippedOf(skipped), rep.Skipped...)
	// In path order, as a walk finds them: chart templates are skipped
	// before parsing, the other files after.
	sort.SliceStable(rep.Skipped, func(i, j int) bool { return rep.Skipped[i].File < rep.Skipped[j].File })
	res := &Result{Report: rep, Empty: empties(opts.Paths, sources, counts, allSkipped)}
	if opts.fixing {
		res.units = units
	}
	return res, nil
}

// skippedOf turns the loader's skipped files into the report's.
func skippedOf(in []manifest.Skip) []report.Skipped {
	out := make([]report.Skipped, 0, len(in))
	for _, s := range in {
		out = append(out, report.Skipped{Location: report.Location{File: s.Path}, Reason: s.Reason})
	}
	return out
}
