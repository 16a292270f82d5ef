package resilience

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/headless-guard/headless-guard/test/cluster"
	"github.com/headless-guard/headless-guard/test/framework"
)

// TestNetworkAttacks makes, from the pod network and with no credentials,
// the attacks of docs/reliability.md that aim to stop every StatefulSet
// write of the cluster (the webhooks fail closed) by holding what the
// guard's servers have: review-body budget, connection slots, and the
// memory of the health and metrics servers. The guard runs as the chart's
// ServiceAccount with its RBAC and GOMEMLIMIT, on a real kube-apiserver
// that calls it for every write. During each attack an honest client
// writes StatefulSets through the API server: every write must succeed
// within three times its latency measured just before, and the guard's
// peak RSS stay under the chart's 256 MiB memory limit.
//
// The attackers dial from other loopback addresses (127.0.0.2 and up)
// than the API server (127.0.0.1), as pods have addresses of their own.
func TestNetworkAttacks(t *testing.T) {
	c := framework.OwnClusterWith(t, cluster.Options{})
	docs := framework.Render(t, c, "self-signed")
	framework.MustKubectl(t, c, framework.Join(docs, func(d framework.ManifestDoc) bool { return !framework.IsWebhookConfiguration(d) }), "apply", "-f", "-")
	kubeconfig, _, _ := framework.SaKubeconfig(t, c, framework.GuardNamespace, "headless-guard")
	t.Setenv("GOMEMLIMIT", "256MiB")
	g, err := c.StartGuard(t.Context(), "--kubeconfig", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			c.DumpLogs(t)
		}
	})
	if conn, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}).Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(c.WebhookPort()))); err != nil {
		t.Skipf("cannot dial from 127.0.0.2 (the attackers' addresses): %v", err)
	} else {
		conn.Close()
	}
	ns := framework.Namespace(t, c, "honest", nil)
	framework.MustKubectl(t, c, []byte(framework.ServiceYAML("web", "")), "apply", "-n", ns, "-f", "-")
	honest := &honestClient{t: t, c: c, ns: ns}
	webhookAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(c.WebhookPort()))
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c.WebhookCA())
	tlsConfig := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}
	const memoryLimit = 256 << 10 // KiB, the chart's resources.limits.memory

	// run measures the honest client's writes before and during attack,
	// which runs until its context ends, and the guard's peak RSS.
	// The machine is shared and busy, so "usual" is measured on both sides
	// of the attack: the slower of the two runs without it.
	// It returns the usual latency of a write.
	run := func(t *testing.T, attack func(ctx context.Context) string) time.Duration {
		before := honest.writes(t, 24, 8)
		if len(before.errs) > 0 {
			t.Fatalf("before the attack: %v", before.errs)
		}
		pid := g.PID()
		// Resets VmHWM to the current RSS (Linux, proc(5)).
		_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		summary := make(chan string, 1)
		go func() { summary <- attack(ctx) }()
		// The attackers take their positions first.
		time.Sleep(4 * time.Second)
		kept := apiServerConns(t, c.WebhookPort())
		if fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil {
			t.Logf("the guard has %d open files as the honest writes begin", len(fds))
		}
		during := honest.writes(t, 24, 8)
		cancel()
		t.Logf("attack: %s; the API server held %d connections to the webhook as the honest writes began, %d after", <-summary, kept, apiServerConns(t, c.WebhookPort()))
		peak := procStatusKiB(t, pid, "VmHWM")
		after := honest.writes(t, 24, 8)
		usual := max(maxOr(before.lat), maxOr(after.lat))
		t.Logf("honest writes before (8 at a time): max %v; after: max %v; during: %d of %d succeeded, max %v (allowed 3×%v); guard peak RSS %d MiB",
			maxOr(before.lat).Round(time.Millisecond), maxOr(after.lat).Round(time.Millisecond), len(during.lat), len(during.lat)+len(during.errs),
			maxOr(during.lat).Round(time.Millisecond), usual.Round(time.Millisecond), peak>>10)
		if len(during.errs) > 0 {
			t.Errorf("%d honest writes failed during the attack, e.g. %v", len(during.errs), during.errs[0])
		}
		if m := maxOr(during.lat); m > 3*usual {
			t.Errorf("the slowest honest write took %v during the attack, over 3× its usual latency (%v)", m, usual)
		}
		if peak > memoryLimit {
			t.Errorf("peak RSS %d MiB: over the chart's memory limit of %d MiB", peak>>10, memoryLimit>>10)
		}
		if g.PID() != pid {
			t.Errorf("the guard restarted during the attack")
		}
		return usual
	}

	t.Run("review bodies that never arrive", func(t *testing.T) {
		run(t, func(ctx context.Context) string {
			var wg sync.WaitGroup
			var opened, sent atomic.Int64
			// As before this attack was known: 64 connections, 250 ms
			// apart in the report (here 50 ms), declaring the largest body
			// and sending none of it, re-opened when the server closes
			// them; the caller's own timeout asks for 60 seconds.
			head := "POST /validate/statefulsets?timeout=60s HTTP/1.1\r\nHost: guard\r\nContent-Type: application/json\r\nContent-Length: 7340032\r\n\r\n"
			for i := range 64 {
				wg.Go(func() {
					for ctx.Err() == nil {
						conn, err := attackerTLS(ctx, "127.0.0.2", webhookAddr, tlsConfig)
						if err != nil {
							return
						}
						opened.Add(1)
						_, _ = io.WriteString(conn, head)
						holdUntilClosed(ctx, conn)
					}
				})
				if i%8 == 7 {
					time.Sleep(50 * time.Millisecond)
				}
			}
			// And bodies past the small lane that stall: they take the
			// large lane.
			for range 8 {
				wg.Go(func() {
					for ctx.Err() == nil {
						conn, err := attackerTLS(ctx, "127.0.0.3", webhookAddr, tlsConfig)
						if err != nil {
							return
						}
						opened.Add(1)
						_, _ = io.WriteString(conn, head)
						n, _ := conn.Write(make([]byte, 300<<10))
						sent.Add(int64(n))
						holdUntilClosed(ctx, conn)
					}
				})
			}
			wg.Wait()
			return fmt.Sprintf("%d connections declaring 7 MiB, %d KiB of bodies sent", opened.Load(), sent.Load()>>10)
		})
	})

	t.Run("connection slots held idle", func(t *testing.T) {
		// The API server keeps its connections to the webhook alive and
		// rarely needs a new one while writes are few; what the attack
		// stops is a new one (after an idle timeout, a restart of the API
		// server, a burst). So besides the honest writes, new connections
		// from the API server's address each send one review, as the API
		// server does on a connection it just opened.
		body := review(t, ns, "CREATE", stsKind, framework.StatefulSetYAML("web", "web", ""), "")
		fresh := func() (time.Duration, error) {
			hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConfig, DisableKeepAlives: true}}
			start := time.Now()
			resp, err := hc.Post("https://"+webhookAddr+"/validate/statefulsets?timeout=5s", "application/json", strings.NewReader(string(body)))
			if err != nil {
				return 0, err
			}
			defer resp.Body.Close()
			_, _ = io.Copy(io.Discard, resp.Body)
			if resp.StatusCode != http.StatusOK {
				return 0, fmt.Errorf("HTTP %s", resp.Status)
			}
			return time.Since(start), nil
		}
		var usualFresh time.Duration
		measureFresh := func() {
			for range 8 {
				d, err := fresh()
				if err != nil {
					t.Fatalf("a review on a new connection without the attack: %v", err)
				}
				usualFresh = max(usualFresh, d)
			}
		}
		measureFresh()
		var freshLat []time.Duration
		var freshErrs []error
		usualWrite := run(t, func(ctx context.Context) string {
			var wg sync.WaitGroup
			var opened, closed atomic.Int64
			// 1,200 connections from four sources, more than the server's
			// 1,024 slots: half never start their TLS handshake, half
			// finish it and send nothing; each is re-opened when closed.
			for s := range 4 {
				src := fmt.Sprintf("127.0.0.%d", 2+s)
				for range 300 {
					wg.Go(func() {
						for ctx.Err() == nil && opened.Load() < 20000 {
							var conn net.Conn
							var err error
							if s%2 == 0 {
								conn, err = (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}).DialContext(ctx, "tcp", webhookAddr)
							} else {
								conn, err = attackerTLS(ctx, src, webhookAddr, tlsConfig)
							}
							if err != nil {
								sleepCtx(ctx, 100*time.Millisecond)
								continue
							}
							opened.Add(1)
							holdUntilClosed(ctx, conn)
							closed.Add(1)
							// Slots are what this attack holds; a
							// connection flood burning CPU is another.
							sleepCtx(ctx, 500*time.Millisecond)
						}
					})
				}
			}
			sleepCtx(ctx, 3*time.Second)
			for range 8 {
				d, err := fresh()
				if err != nil {
					freshErrs = append(freshErrs, err)
				} else {
					freshLat = append(freshLat, d)
				}
			}
			wg.Wait()
			return fmt.Sprintf("%d connections opened from 4 sources, %d closed (by the server, or at the end)", opened.Load(), closed.Load())
		})
		measureFresh()
		closedByLimits := framework.GrepLines(framework.MetricsText(t, g.MetricsURL()), `headless_guard_connections_closed_total{reason=`)
		t.Logf("closed by the webhook server's limits:\n%s", closedByLimits)
		if !strings.Contains(closedByLimits, `reason="evicted",server="webhook"`) || !strings.Contains(closedByLimits, `reason="per-source",server="webhook"`) {
			t.Errorf("the connections the limits closed are not counted by reason")
		}
		t.Logf("reviews on new connections from the API server's address: without the attack (before and after), max %v; during, %d of 8 answered in %v", usualFresh.Round(time.Millisecond), len(freshLat), freshLat)
		if len(freshErrs) > 0 {
			t.Errorf("%d of 8 reviews on new connections failed during the attack, e.g. %v", len(freshErrs), freshErrs[0])
		}
		// Such a review is part of a write whose usual latency includes
		// one on a kept connection: with a new connection, the typical
		// write must stay within 3× its usual latency. The slowest may
		// wait behind the attackers' own connection attempts in the
		// kernel's accept queue (each accepted and closed in turn, slower
		// when the machine is busy: 178 ms seen with the whole package
		// running); it must stay within a tenth of the chart's webhook
		// timeout (5 s). The code before waited 1.2 s and more, until an
		// attacker's connection timed out. On a machine so busy that a
		// review on a new connection takes over 60 ms without the attack
		// (load 17-35 on two cores: 0.8-1 s were seen with the attack),
		// the bound grows with that usual latency: it scales what the
		// machine does, not what the attack holds.
		slowest := max(500*time.Millisecond, 8*usualFresh)
		slices.Sort(freshLat)
		if len(freshLat) > 0 {
			if med := freshLat[len(freshLat)/2]; med+usualWrite > 3*max(usualWrite, usualFresh) {
				t.Errorf("reviews on new connections took %v (median) during the attack: a write needing one would take over 3× its usual %v", med, usualWrite)
			}
			if m := maxOr(freshLat); m > slowest {
				t.Errorf("a review on a new connection took %v during the attack: over %v (a tenth of the webhook timeout, or 8× the usual %v on a busy machine)", m, slowest, usualFresh)
			}
		}
	})

	t.Run("forged names do not grow the log", func(t *testing.T) {
		// A namespace of "x/" and 1 MiB passed the trust checks, and was
		// logged whole twice and echoed in the response: 5 reviews grew
		// the log by 21 MB.
		huge := "x/" + strings.Repeat("n", 1<<20)
		direct := newReviewer(t, c, webhookAddr)
		logSize := func() int64 {
			fi, err := os.Stat(g.LogPath())
			if err != nil {
				t.Fatal(err)
			}
			return fi.Size()
		}
		before := logSize()
		var echoed int
		for i := range 5 {
			doc := strings.Replace(framework.StatefulSetYAML("web", "web", ""), "metadata:\n  name: web\n", fmt.Sprintf("metadata:\n  name: web\n  namespace: %q\n", huge), 1)
			if i%2 == 1 {
				doc = strings.Replace(framework.StatefulSetYAML("web", "web", ""), "name: web\n", fmt.Sprintf("name: %s\n", strings.Repeat("w", 1<<20)), 1)
			}
			ns := huge
			if i%2 == 1 {
				ns = "default"
			}
			resp, _ := direct.post("/validate/statefulsets", "", review(t, ns, "CREATE", stsKind, doc, ""))
			if resp.Allowed || resp.Result == nil {
				t.Errorf("review %d with a name of 1 MiB: allowed, want refused", i)
				continue
			}
			echoed = max(echoed, len(resp.Result.Message)+len(strings.Join(resp.Warnings, "")))
		}
		time.Sleep(time.Second)
		grown := logSize() - before
		t.Logf("5 reviews with a namespace or name of 1 MiB: the log grew by %d bytes, the longest answer echoed %d bytes", grown, echoed)
		if grown > 5*4096 {
			t.Errorf("the log grew by %d bytes for 5 forged reviews: want at most 4 KiB each", grown)
		}
		if echoed > 4096 {
			t.Errorf("an answer echoed %d bytes of a forged review", echoed)
		}
	})

	t.Run("unfinished headers to the health and metrics ports", func(t *testing.T) {
		health := strings.TrimPrefix(g.HealthURL(), "http://")
		metricsURL, _ := url.Parse(g.MetricsURL())
		var probeFailures atomic.Int64
		var probes atomic.Int64
		run(t, func(ctx context.Context) string {
			var wg sync.WaitGroup
			var sent atomic.Int64
			// 400 connections, each sending 1 MiB of one header line
			// that never ends.
			for i := range 400 {
				target := health
				if i%2 == 1 {
					target = metricsURL.Host
				}
				src := fmt.Sprintf("127.0.0.%d", 2+i%4)
				wg.Go(func() {
					conn, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}).DialContext(ctx, "tcp", target)
					if err != nil {
						return
					}
					defer conn.Close()
					stop := context.AfterFunc(ctx, func() { conn.Close() })
					defer stop()
					_, _ = io.WriteString(conn, "GET /readyz HTTP/1.1\r\nHost: guard\r\nX-Pad: ")
					chunk := []byte(strings.Repeat("a", 32<<10))
					for range 32 {
						n, err := conn.Write(chunk)
						sent.Add(int64(n))
						if err != nil {
							return
						}
					}
					<-ctx.Done()
				})
			}
			// The kubelet's readiness probe, from its own address, with
			// its one-second timeout.
			hc := &http.Client{Timeout: time.Second}
			for ctx.Err() == nil {
				probes.Add(1)
				resp, err := hc.Get(g.HealthURL() + "/readyz")
				if err != nil || resp.StatusCode != http.StatusOK {
					probeFailures.Add(1)
				}
				if err == nil {
					resp.Body.Close()
				}
				sleepCtx(ctx, 500*time.Millisecond)
			}
			wg.Wait()
			return fmt.Sprintf("%d MiB of headers sent on 400 connections; readiness probes: %d of %d failed", sent.Load()>>20, probeFailures.Load(), probes.Load())
		})
		if n := probeFailures.Load(); n > 0 {
			t.Errorf("%d of %d readiness probes failed during the attack: the kubelet would take the replica out", n, probes.Load())
		}
	})
}

// honestClient writes StatefulSets through the API server, which calls
// the webhook for each: server-side dry-run creates, so that nothing
// accumulates, parallel at once so that the API server needs as many
// connections to the webhook.
type honestClient struct {
	t  *testing.T
	c  *cluster.Cluster
	ns string
	n  atomic.Int64
}

type writeResults struct {
	lat  []time.Duration
	errs []error
}

func (h *honestClient) writes(t *testing.T, n, parallel int) writeResults {
	t.Helper()
	var base appsv1.StatefulSet
	if err := yaml.Unmarshal([]byte(framework.StatefulSetYAML("web", "web", "")), &base); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var res writeResults
	var wg sync.WaitGroup
	work := make(chan int)
	for range parallel {
		wg.Go(func() {
			for range work {
				sts := base.DeepCopy()
				sts.Namespace, sts.Name = h.ns, fmt.Sprintf("web-%d", h.n.Add(1))
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				start := time.Now()
				err := h.c.Client().Create(ctx, sts, client.DryRunAll)
				d := time.Since(start)
				cancel()
				mu.Lock()
				if err != nil {
					res.errs = append(res.errs, err)
				} else {
					res.lat = append(res.lat, d)
				}
				mu.Unlock()
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	return res
}

func maxOr(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	return slices.Max(ds)
}

// attackerTLS completes a TLS handshake from src.
func attackerTLS(ctx context.Context, src, addr string, cfg *tls.Config) (net.Conn, error) {
	d := &tls.Dialer{NetDialer: &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}, Config: cfg}
	return d.DialContext(ctx, "tcp", addr)
}

// holdUntilClosed keeps conn open until the server closes it or ctx ends.
func holdUntilClosed(ctx context.Context, conn net.Conn) {
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	_, _ = io.Copy(io.Discard, conn)
	conn.Close()
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// apiServerConns counts the established TCP connections from 127.0.0.1 to
// port (/proc/net/tcp): in these tests, the API server's to the webhook.
func apiServerConns(t *testing.T, port int) int {
	t.Helper()
	data, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return -1
	}
	want := fmt.Sprintf("0100007F:%04X", port)
	n := 0
	for line := range strings.Lines(string(data)) {
		f := strings.Fields(line)
		if len(f) > 3 && f[2] == want && strings.HasPrefix(f[1], "0100007F:") && f[3] == "01" {
			n++
		}
	}
	return n
}
