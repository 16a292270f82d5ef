// Package load is the webhook load generator of `make bench`: it posts
// recorded AdmissionReviews (package reviews) over TLS with keep-alive
// connections, as kube-apiserver does, at a fixed concurrency (closed loop)
// or a fixed arrival rate (open loop, latency measured from the intended
// send time so that a stalled server cannot hide its queue), and reports
// throughput and latency percentiles. It also holds the do-nothing
// controller-runtime webhook the guard is compared with (ServeNop,
// cmd nopwebhook).
package load

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	admissionv1 "k8s.io/api/admission/v1"

	"github.com/headless-guard/headless-guard/test/load/reviews"
)

// Target is a webhook server: https://127.0.0.1:PORT and the CA that signed
// its certificate.
type Target struct {
	BaseURL string
	CA      []byte
}

// Options describe one run.
type Options struct {
	// Reviews are posted round robin, each worker starting at its own offset.
	Reviews []reviews.Review
	// Concurrency is the number of workers, each with its own keep-alive
	// connection. In open-loop mode it bounds the requests in flight.
	Concurrency int
	// Rate, when positive, is the arrival rate in requests per second (open
	// loop); zero runs a closed loop, every worker sending as soon as its
	// previous answer arrived.
	Rate float64
	// Warmup is run first and not measured: connections are established
	// and the servers' pools warm.
	Warmup time.Duration
	// Duration is the measured time.
	Duration time.Duration
}

// Result is the outcome of one run.
type Result struct {
	// Requests answered with 200 in the measured window, and Errors (any
	// other outcome).
	Requests, Errors int
	// Throughput is Requests per second of the measured window.
	Throughput float64
	// Latency percentiles over the measured requests.
	P50, P99, P999, Max time.Duration
	// FirstError is the first error seen, for the report.
	FirstError error
	// Samples are the latencies of the measured requests, sorted, for
	// pooling runs.
	Samples []time.Duration
}

// Client returns an HTTP client that talks to t as kube-apiserver's webhook
// client does: HTTP/1.1 over TLS, keep-alive, up to conns connections.
func Client(t Target, conns int) (*http.Client, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(t.CA) {
		return nil, errors.New("no certificate in the CA bundle")
	}
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout: 5 * time.Second,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		// A non-nil empty map turns HTTP/2 off, as the guard serves HTTP/1.1.
		TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{},
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}, nil
}

// Post sends one review and returns the response body.
func Post(ctx context.Context, c *http.Client, baseURL string, r reviews.Review, buf *bytes.Buffer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, baseURL+r.Path, bytes.NewReader(r.Body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, */*")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	buf.Reset()
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s: %.200s", r.Path, resp.Status, buf.Bytes())
	}
	return nil
}

// Verify posts every review once and checks the decisions: allowed and
// warned as recorded in package reviews when guard is true, and allowed
// with no warnings for the do-nothing webhook. A stale recording or a
// cache that misses the fixtures shows up here, not as a fast error path.
func Verify(ctx context.Context, t Target, rs []reviews.Review, guard bool) error {
	c, err := Client(t, 1)
	if err != nil {
		return err
	}
	defer c.CloseIdleConnections()
	var buf bytes.Buffer
	var errs []error
	for _, r := range rs {
		if err := Post(ctx, c, t.BaseURL, r, &buf); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", r.Name, err))
			continue
		}
		var out admissionv1.AdmissionReview
		if err := json.Unmarshal(buf.Bytes(), &out); err != nil || out.Response == nil {
			errs = append(errs, fmt.Errorf("%s: no AdmissionReview response (%v): %.200s", r.Name, err, buf.Bytes()))
			continue
		}
		allowed, warned := true, false
		if guard {
			allowed, warned = r.Allowed, r.Warned
		}
		if got := out.Response; got.Allowed != allowed || (len(got.Warnings) > 0) != warned {
			errs = append(errs, fmt.Errorf("%s: allowed=%v warnings=%q, want allowed=%v warned=%v", r.Name, got.Allowed, got.Warnings, allowed, warned))
		}
	}
	return errors.Join(errs...)
}

// Run drives t with o and reports what it measured.
func Run(ctx context.Context, t Target, o Options) (Result, error) {
	if o.Concurrency < 1 || len(o.Reviews) == 0 || o.Duration <= 0 {
		return Result{}, errors.New("load: need a concurrency, reviews and a duration")
	}
	c, err := Client(t, o.Concurrency)
	if err != nil {
		return Result{}, err
	}
	defer c.CloseIdleConnections()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	start := time.Now()
	measureFrom := start.Add(o.Warmup)
	end := measureFrom.Add(o.Duration)

	var ticks chan time.Time
	if o.Rate > 0 {
		// Buffered for the whole run: the pacer never waits for workers,
		// so a slow server shows as queueing delay, not as a lower rate.
		ticks = make(chan time.Time, int(o.Rate*(o.Warmup+o.Duration).Seconds())+1)
		go pace(ctx, ticks, start, end, o.Rate)
	}

	type worker struct {
		lat    []time.Duration
		errors int
		first  error
	}
	workers := make([]worker, o.Concurrency)
	var stopped atomic.Bool
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			me := &workers[w]
			me.lat = make([]time.Duration, 0, 4096)
			var buf bytes.Buffer
			for i := w; ; i++ {
				var sent time.Time
				if ticks != nil {
					var ok bool
					if sent, ok = <-ticks; !ok {
						return
					}
				} else {
					if stopped.Load() {
						return
					}
					sent = time.Now()
					if !sent.Before(end) {
						stopped.Store(true)
						return
					}
				}
				err := Post(ctx, c, t.BaseURL, o.Reviews[i%len(o.Reviews)], &buf)
				done := time.Now()
				if sent.Before(measureFrom) || !sent.Before(end) {
					continue
				}
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					me.errors++
					if me.first == nil {
						me.first = err
					}
					continue
				}
				me.lat = append(me.lat, done.Sub(sent))
			}
		}()
	}
	wg.Wait()
	elapsed := o.Duration

	var all []time.Duration
	var res Result
	for _, w := range workers {
		all = append(all, w.lat...)
		res.Errors += w.errors
		if res.FirstError == nil {
			res.FirstError = w.first
		}
	}
	slices.Sort(all)
	res.Samples = all
	res.Requests = len(all)
	res.Throughput = float64(len(all)) / elapsed.Seconds()
	res.P50, res.P99, res.P999 = quantile(all, 0.50), quantile(all, 0.99), quantile(all, 0.999)
	if len(all) > 0 {
		res.Max = all[len(all)-1]
	}
	return res, nil
}

// pace sends the intended start time of each request at rate per second
// from start until end, in bursts when the timer wakes late.
func pace(ctx context.Context, ticks chan<- time.Time, start, end time.Time, rate float64) {
	defer close(ticks)
	interval := time.Duration(float64(time.Second) / rate)
	next := start
	for next.Before(end) {
		if d := time.Until(next); d > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(d):
			}
		}
		now := time.Now()
		for ; !next.After(now) && next.Before(end); next = next.Add(interval) {
			ticks <- next
		}
	}
}

// quantile is the q-quantile of sorted samples (nearest rank).
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// Quantiles returns the 0.5, 0.99 and 0.999 quantiles of samples (sorted in place).
func Quantiles(samples []time.Duration) (p50, p99, p999 time.Duration) {
	slices.Sort(samples)
	return quantile(samples, 0.5), quantile(samples, 0.99), quantile(samples, 0.999)
}
