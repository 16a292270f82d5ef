package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	reportsv1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/headless-guard/headless-guard/rules"
)

// ReportName is the name of the Report the audit keeps in each namespace
// that has findings.
const ReportName = "headless-guard"

// reportSource is the Report's and each result's source, as Policy
// Reporter groups them.
const reportSource = "headless-guard"

// ReasonReportTaken is the reason of the Warning Event recorded on a Report
// named like the guard's that the guard did not make.
const ReasonReportTaken = "HeadlessGuardReportTaken"

// takenRetry is how often a namespace whose Report name is taken is tried
// again: often enough to write it soon after the other Report goes, rarely
// enough that nobody's log fills with it.
const takenRetry = 30 * time.Second

// ReportsTaken is headless_guard_audit_reports_taken: the namespaces whose
// Report name is held by a Report the guard did not make (no label
// app.kubernetes.io/managed-by=headless-guard), so that the audit's
// findings there are in Events and metrics only.
var ReportsTaken = prometheus.NewGauge(prometheus.GaugeOpts{
	Name: "headless_guard_audit_reports_taken",
	Help: "Namespaces whose Report named headless-guard was made by someone else (without the label app.kubernetes.io/managed-by=headless-guard): the audit's findings there go to Events and metrics only.",
})

// errTaken is a Report name held by a Report the guard did not make.
var errTaken = errors.New("the Report name is taken")

// reportResult is one finding as a Report carries it, without its
// timestamp (which would make every write a change).
type reportResult struct {
	policy, rule, result, severity, message, field string
	subject                                        corev1.ObjectReference
}

func (r reportResult) sortKey() string {
	return strings.Join([]string{r.subject.Kind, r.subject.Name, r.policy, r.field, r.message}, "\x00")
}

// resultsOf turns an object's findings into Report results.
func resultsOf(subject corev1.ObjectReference, findings []rules.Finding) []reportResult {
	out := make([]reportResult, 0, len(findings))
	for _, f := range findings {
		r := reportResult{policy: f.Rule.ID, rule: f.Rule.Name, message: f.Message(), field: f.Field(), subject: subject, result: "warn", severity: "medium"}
		if f.Action == rules.ActionDeny {
			// What admission would deny: the pods have, or would have, no
			// DNS names.
			r.result, r.severity = "fail", "high"
		}
		out = append(out, r)
	}
	return out
}

// Reports keeps one openreports.io/v1alpha1 Report per namespace with the
// audit's findings there (Policy Reporter and `kubectl get reports -A`
// show them; Events expire after the API server's event TTL, the Report
// stays as long as the finding). A namespace whose findings changed is
// written at most once per Interval, with all of its findings at that
// moment; a Report left with no result is deleted. When the Report CRD is
// not installed it says so once and retries every minute.
type Reports struct {
	// Client writes Reports.
	Client client.Client
	// Live reads them (no informer: the CRD may be absent).
	Live client.Reader
	// Interval is how often changed namespaces are written (1s when 0).
	Interval time.Duration
	Log      logr.Logger
	// Recorder records a Warning Event on a Report that holds the guard's
	// Report name without being the guard's (nil: none).
	Recorder events.EventRecorder

	mu sync.Mutex
	// dirty maps a namespace to the earliest time to write it.
	dirty map[string]time.Time
	// snapshot returns the results of a namespace; set by the Audit.
	snapshot func(namespace string) []reportResult
	// missingSince is when the CRD was found missing; zero when present.
	missingSince time.Time
	// taken holds the namespaces whose Report name someone else holds,
	// with that Report's UID: each is said once.
	taken map[string]types.UID
}

// crdRetry is how long the Report CRD is assumed absent once it was.
const crdRetry = 10 * time.Second

// markDirty schedules namespace for a write no earlier than at.
func (r *Reports) markDirty(namespace string, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dirty == nil {
		r.dirty = map[string]time.Time{}
	}
	if old, ok := r.dirty[namespace]; !ok || at.Before(old) {
		r.dirty[namespace] = at
	}
}

// NeedLeaderElection implements manager.LeaderElectionRunnable: Reports
// are written by the leader, whose audit has the findings.
func (*Reports) NeedLeaderElection() bool { return true }

// Start implements manager.Runnable: it writes the changed namespaces
// every Interval until ctx ends. The Reports of an earlier run are looked
// up once, and written again after the first pass of the audit, so that
// the results of objects fixed while the guard was down go.
func (r *Reports) Start(ctx context.Context) error {
	interval := r.Interval
	if interval <= 0 {
		interval = time.Second
	}
	if err := ctrlmetrics.Registry.Register(ReportsTaken); err != nil && !errors.As(err, new(prometheus.AlreadyRegisteredError)) {
		return err
	}
	r.recall(ctx, time.Now().Add(30*time.Second))
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-tick.C:
			r.flush(ctx, now)
		}
	}
}

// recall marks the namespaces that have a Report of an earlier run.
func (r *Reports) recall(ctx context.Context, at time.Time) {
	var list reportsv1alpha1.ReportList
	if err := r.Live.List(ctx, &list, client.MatchingLabels{rules.ManagedByLabel: rules.ManagedByValue}); err != nil {
		r.unavailable(err)
		return
	}
	for _, rep := range list.Items {
		if rep.Name == ReportName {
			r.markDirty(rep.Namespace, at)
		}
	}
}

func (r *Reports) flush(ctx context.Context, now time.Time) {
	r.mu.Lock()
	if !r.missingSince.IsZero() && now.Sub(r.missingSince) < crdRetry {
		r.mu.Unlock()
		return
	}
	var due []string
	for ns, at := range r.dirty {
		if !at.After(now) {
			due = append(due, ns)
			delete(r.dirty, ns)
		}
	}
	r.mu.Unlock()
	slices.Sort(due)
	for _, ns := range due {
		err := r.write(ctx, ns, r.snapshot(ns), now)
		switch {
		case err == nil:
		case errors.Is(err, errTaken):
			// Not an error of the guard's, and no reason to stop writing
			// the other namespaces: said once, tried again now and then.
			r.markDirty(ns, now.Add(takenRetry))
		case r.unavailable(err):
			r.markDirty(ns, now)
		default:
			r.Log.Error(err, "audit: writing the Report; retrying", "namespace", ns)
			r.markDirty(ns, now.Add(5*time.Second))
		}
	}
}

// setTaken records whether the namespace's Report name is held by someone
// else's Report (rep, when it is), and says so when that changes.
func (r *Reports) setTaken(namespace string, rep *reportsv1alpha1.Report) {
	r.mu.Lock()
	defer r.mu.Unlock()
	uid, was := r.taken[namespace]
	switch {
	case rep == nil && was:
		delete(r.taken, namespace)
		ReportsTaken.Set(float64(len(r.taken)))
		r.Log.Info("audit: the Report name is free again; writing the findings", "namespace", namespace)
	case rep != nil && (!was || uid != rep.UID):
		if r.taken == nil {
			r.taken = map[string]types.UID{}
		}
		r.taken[namespace] = rep.UID
		ReportsTaken.Set(float64(len(r.taken)))
		r.Log.Info("audit: a Report named like headless-guard's was not made by it; its findings in this namespace go to Events and metrics only until that Report is gone",
			"namespace", namespace, "report", ReportName, "missingLabel", rules.ManagedByLabel+"="+rules.ManagedByValue)
		if r.Recorder != nil {
			r.Recorder.Eventf(rep, nil, corev1.EventTypeWarning, ReasonReportTaken, "audit",
				"this Report has headless-guard's name but not its label %s=%s: headless-guard does not touch it, and its findings for namespace %s are not here (see its Events and headless_guard_audit_violations); delete or rename this Report to get them",
				rules.ManagedByLabel, rules.ManagedByValue, namespace)
		}
	}
}

// unavailable reports whether err says the Report CRD is not installed,
// and says so once.
func (r *Reports) unavailable(err error) bool {
	if !meta.IsNoMatchError(err) && !apierrors.IsNotFound(err) {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.missingSince.IsZero() {
		r.Log.Info("the openreports.io Report CRD is not installed: the audit's findings go to Events and metrics only; install it to get Reports (the chart's reports.installCRD)")
	}
	r.missingSince = time.Now()
	return true
}

// write makes the namespace's Report hold results: created, updated when
// they differ, deleted when there are none.
func (r *Reports) write(ctx context.Context, namespace string, results []reportResult, now time.Time) error {
	key := types.NamespacedName{Namespace: namespace, Name: ReportName}
	current := &reportsv1alpha1.Report{}
	err := r.Live.Get(ctx, key, current)
	exists := err == nil
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	if exists && current.Labels[rules.ManagedByLabel] != rules.ManagedByValue {
		r.setTaken(namespace, current)
		return fmt.Errorf("%w: %s is not headless-guard's (no label %s=%s)", errTaken, key, rules.ManagedByLabel, rules.ManagedByValue)
	}
	r.setTaken(namespace, nil)
	r.mu.Lock()
	if !r.missingSince.IsZero() {
		r.missingSince = time.Time{}
		r.Log.Info("the openreports.io Report CRD is installed: the audit writes Reports")
	}
	r.mu.Unlock()
	if len(results) == 0 {
		if !exists {
			return nil
		}
		return client.IgnoreNotFound(r.Client.Delete(ctx, current, client.Preconditions{UID: &current.UID, ResourceVersion: &current.ResourceVersion}))
	}
	want := &reportsv1alpha1.Report{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: ReportName, Labels: map[string]string{rules.ManagedByLabel: rules.ManagedByValue}},
		Source:     reportSource,
		Results:    make([]reportsv1alpha1.ReportResult, 0, len(results)),
	}
	// An unchanged result keeps the time it was first reported.
	since := map[string]metav1.Timestamp{}
	if exists {
		for _, res := range current.Results {
			since[fromReport(res).sortKey()] = res.Timestamp
		}
	}
	for _, res := range results {
		ts, ok := since[res.sortKey()]
		if !ok {
			ts = metav1.Timestamp{Seconds: now.Unix()}
		}
		want.Results = append(want.Results, reportsv1alpha1.ReportResult{
			Source: reportSource, Policy: res.policy, Rule: res.rule, Category: "DNS",
			Severity: reportsv1alpha1.ResultSeverity(res.severity), Result: reportsv1alpha1.Result(res.result),
			Timestamp: ts, Subjects: []corev1.ObjectReference{res.subject}, Description: res.message,
			Properties: map[string]string{"field": res.field},
		})
		switch res.result {
		case "fail":
			want.Summary.Fail++
		default:
			want.Summary.Warn++
		}
	}
	if !exists {
		err := r.Client.Create(ctx, want)
		if apierrors.IsAlreadyExists(err) {
			r.markDirty(namespace, now)
			return nil
		}
		return err
	}
	if slices.EqualFunc(current.Results, want.Results, sameResult) && current.Summary == want.Summary && current.Source == want.Source {
		return nil
	}
	current.Source, current.Summary, current.Results = want.Source, want.Summary, want.Results
	return r.Client.Update(ctx, current)
}

func fromReport(res reportsv1alpha1.ReportResult) reportResult {
	out := reportResult{policy: res.Policy, rule: res.Rule, result: string(res.Result), severity: string(res.Severity), message: res.Description, field: res.Properties["field"]}
	if len(res.Subjects) > 0 {
		out.subject = res.Subjects[0]
	}
	return out
}

func sameResult(a, b reportsv1alpha1.ReportResult) bool {
	return fromReport(a) == fromReport(b) && a.Timestamp == b.Timestamp && a.Category == b.Category && a.Source == b.Source
}
