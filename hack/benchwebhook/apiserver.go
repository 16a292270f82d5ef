package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/headless-guard/headless-guard/test/load"
)

// latencyNamespace holds the StatefulSets the apiserver phase creates with
// its i-th server: each its own, so that none audits another's.
func latencyNamespace(i int) string { return fmt.Sprintf("latency-%d", i) }

// apiserverPhase times StatefulSet creates through kube-apiserver, one at a
// time, in blocks that alternate between the webhooks registered and not,
// with the do-nothing webhook, the guard without its audit, and the guard
// serving them. Each create calls two webhooks (mutating and validating
// StatefulSets).
func (b *bench) apiserverPhase() error {
	ctx, cl, o := b.ctx, b.c.Client(), b.o
	configs, err := b.webhookConfigs()
	if err != nil {
		return err
	}
	per := o.blocks * o.blockSize
	ns, next := "", 0
	create := func(samples *[]time.Duration) error {
		for range o.blockSize {
			sts := load.ScaleStatefulSet(ns, next)
			next++
			start := time.Now()
			if err := cl.Create(ctx, sts); err != nil {
				return fmt.Errorf("creating StatefulSet %s: %w", sts.Name, err)
			}
			*samples = append(*samples, time.Since(start))
		}
		return nil
	}
	type result struct {
		name                string
		with, without       []time.Duration
		cpuWith, cpuWithout time.Duration
	}
	// The do-nothing webhook first, the guard last: the guard is the server
	// the phases after this one expect. The guard also runs without its
	// audit, to tell the audit's share of each create (its work competes
	// with the API server for the two cores) from the webhook calls'.
	variants := []struct {
		name string
		s    server
		args []string
	}{
		{b.nop.Name(), b.nop, nil},
		{b.guard.Name() + " --audit=false", b.guard, []string{"--audit=false"}},
		{b.guard.Name(), b.guard, nil},
	}
	var results []*result
	for i, v := range variants {
		ns, next = latencyNamespace(i), 0
		if b.active == nil {
			// A failed restart in the scale phase left no server, and the
			// Services prepareLatency creates go through the webhooks.
			if err := b.use(b.nop); err != nil {
				return err
			}
		}
		if err := b.prepareLatency(ns, 2*per); err != nil {
			return err
		}
		if v.s == server(b.guard) {
			if err := b.guard.Stop(); err != nil {
				return err
			}
			if b.active == server(b.guard) {
				b.active = nil
			}
			b.guard.args = v.args
		}
		if err := b.use(v.s); err != nil {
			return err
		}
		r := &result{name: v.name}
		results = append(results, r)
		for i := range o.blocks {
			// Alternate which configuration goes first in each pair.
			for _, registered := range []bool{i%2 == 0, i%2 == 1} {
				if err := b.setWebhooks(ns, configs, registered); err != nil {
					return err
				}
				samples, cpu := &r.without, &r.cpuWithout
				if registered {
					samples, cpu = &r.with, &r.cpuWith
				}
				before, err := readProc(b.active.PID())
				if err != nil {
					return err
				}
				if err := create(samples); err != nil {
					return err
				}
				after, err := readProc(b.active.PID())
				if err != nil {
					return err
				}
				*cpu += after.cpu - before.cpu
			}
		}
		if err := b.setWebhooks(ns, configs, true); err != nil {
			return err
		}
	}
	b.guard.args = nil

	fmt.Printf("== StatefulSet create through kube-apiserver: %d creates per configuration, one at a time,\n", per)
	fmt.Printf("   blocks of %d alternating with blocks without webhooks (2 webhook calls per create);\n", o.blockSize)
	fmt.Printf("   server CPU: the webhook process's CPU time per create, webhook calls and background work;\n")
	fmt.Printf("   each server creates its StatefulSets (0 -> %d) next to %d Services in a namespace of its own\n", 2*per, 2*per)
	fmt.Printf("%-44s %8s %8s %8s %11s   %s\n", "configuration", "p50", "p99", "mean", "server CPU", "overhead p50 / p99")
	var guardP99 time.Duration
	for _, r := range results {
		wp50, wp99, wmean := stats(r.with)
		np50, np99, nmean := stats(r.without)
		fmt.Printf("%-44s %8s %8s %8s %9s/c\n", "no webhooks (while "+r.name+" ran)", ms(np50), ms(np99), ms(nmean), us(r.cpuWithout/time.Duration(per)))
		fmt.Printf("%-44s %8s %8s %8s %9s/c   %+.2fms / %+.2fms\n", r.name+" registered", ms(wp50), ms(wp99), ms(wmean), us(r.cpuWith/time.Duration(per)),
			float64(wp50-np50)/1e6, float64(wp99-np99)/1e6)
		if r.name == b.guard.Name() {
			guardP99 = wp99 - np99
		}
	}
	fmt.Printf("target p99 overhead <= 5ms: %+.2fms %s (load %s)\n\n", float64(guardP99)/1e6, verdict(guardP99 <= 5*time.Millisecond), loadAvg())
	return nil
}

func stats(d []time.Duration) (p50, p99, mean time.Duration) {
	s := slices.Clone(d)
	p50, p99, _ = load.Quantiles(s)
	var sum time.Duration
	for _, x := range s {
		sum += x
	}
	if len(s) > 0 {
		mean = sum / time.Duration(len(s))
	}
	return p50, p99, mean
}

// prepareLatency creates the namespace, n Services the StatefulSets name,
// and a client Service the probe StatefulSet names (the guard denies it:
// HG003).
func (b *bench) prepareLatency(ns string, n int) error {
	ctx, cl := b.ctx, b.c.Client()
	if err := cl.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		return err
	}
	probeSvc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "probe", Namespace: ns},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "probe"},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}},
	}
	if err := cl.Create(ctx, probeSvc); err != nil {
		return err
	}
	objs := make([]client.Object, n)
	for i := range n {
		objs[i] = load.ScaleService(ns, i)
	}
	return createAll(ctx, cl, objs, 16)
}

// probe is a StatefulSet both servers deny (the guard: its Service is not
// headless; the do-nothing webhook: its name), created with dry run.
func probe(ns string) *appsv1.StatefulSet {
	labels := map[string]string{"app": "probe"}
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: load.ProbeDenyPrefix, Namespace: ns},
		Spec: appsv1.StatefulSetSpec{
			ServiceName: "probe",
			Selector:    &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx",
					Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 80}}}}},
			},
		},
	}
}

// webhookConfigs returns the registered configurations, to restore them.
func (b *bench) webhookConfigs() ([]client.Object, error) {
	var v admissionregistrationv1.ValidatingWebhookConfiguration
	var m admissionregistrationv1.MutatingWebhookConfiguration
	cl := b.c.Client()
	if err := cl.Get(b.ctx, client.ObjectKey{Name: "headless-guard"}, &v); err != nil {
		return nil, err
	}
	if err := cl.Get(b.ctx, client.ObjectKey{Name: "headless-guard"}, &m); err != nil {
		return nil, err
	}
	return []client.Object{&v, &m}, nil
}

// setWebhooks registers or removes the configurations and waits until the
// API server acts on it: the probe is denied, or created (dry run). A
// short settle follows, for the configuration informer of the mutating
// webhooks.
func (b *bench) setWebhooks(ns string, configs []client.Object, registered bool) error {
	ctx, cl := b.ctx, b.c.Client()
	for _, obj := range configs {
		if registered {
			c := obj.DeepCopyObject().(client.Object)
			c.SetResourceVersion("")
			c.SetUID("")
			c.SetManagedFields(nil)
			c.SetCreationTimestamp(metav1.Time{})
			c.SetGeneration(0)
			if err := cl.Create(ctx, c); err != nil && !apierrors.IsAlreadyExists(err) {
				return err
			}
		} else if err := cl.Delete(ctx, obj.DeepCopyObject().(client.Object)); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := cl.Create(ctx, probe(ns), client.DryRunAll)
		denied := err != nil && strings.Contains(err.Error(), "denied the request")
		if err != nil && !denied {
			return fmt.Errorf("probe: %w", err)
		}
		if denied == registered {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the API server did not pick up the webhook configurations (registered=%v) in 30s", registered)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	return nil
}

// createAll creates objs with workers in parallel.
func createAll(ctx context.Context, cl client.Client, objs []client.Object, workers int) error {
	var next atomic.Int64
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(objs) || ctx.Err() != nil {
					return
				}
				if err := cl.Create(ctx, objs[i]); err != nil && !apierrors.IsAlreadyExists(err) {
					mu.Lock()
					errs = append(errs, fmt.Errorf("%s: %w", objs[i].GetName(), err))
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
