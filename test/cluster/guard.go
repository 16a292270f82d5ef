package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

const (
	// readyTimeout bounds the wait for /readyz and for the API server to
	// reach the webhook.
	readyTimeout = 60 * time.Second
	// stopGrace is how long a guard has to exit after SIGTERM.
	stopGrace = 10 * time.Second
)

// Guard is the real headless-guard binary running `serve` against the
// cluster. A cluster runs at most one at a time: the webhook port is the
// cluster's.
type Guard struct {
	c           *Cluster
	ctx         context.Context
	bin         string
	healthAddr  string
	metricsAddr string

	mu   sync.Mutex
	args []string
	proc *guardProc
}

// guardProc is one run of the binary.
type guardProc struct {
	cmd     *exec.Cmd
	logPath string
	logFile *os.File
	// done is closed once the process has exited; waitErr is then set.
	done     chan struct{}
	waitErr  error
	stopOnce sync.Once
	stopErr  error
}

// StartGuard starts `headless-guard serve` with the cluster's kubeconfig,
// serving certificate and webhook port, health and metrics on free local
// ports (metrics over plain HTTP), and args appended. It returns once
// /readyz answers 200 and the API server reaches the webhook: it sends one
// server-side dry-run Service create ("headless-guard-probe" in "default")
// through it, which the guard's metrics count as one /validate/services
// request. The guard stops
// when ctx ends, on Stop, or with the cluster; its stderr goes to
// guard-N.log in LogDir.
//
// The binary is <root>/bin/headless-guard when it is newer than every
// source file it is built from; otherwise it is built once per source
// state into the user cache directory.
func (c *Cluster) StartGuard(ctx context.Context, args ...string) (*Guard, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, errors.New("the cluster is stopped")
	}
	if c.guard != nil && !c.guard.exited() {
		return nil, errors.New("a guard is already running on this cluster: Stop or Restart it")
	}
	bin, err := GuardBinary(c.root)
	if err != nil {
		return nil, err
	}
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	g := &Guard{
		c:           c,
		ctx:         ctx,
		bin:         bin,
		healthAddr:  net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0])),
		metricsAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[1])),
		args:        args,
	}
	if err := g.start(); err != nil {
		return nil, err
	}
	c.guard = g
	return g, nil
}

// start runs the binary with g.args and waits until it serves; the caller
// holds c.mu.
func (g *Guard) start() error {
	args := append([]string{"serve",
		"--kubeconfig", g.c.kubeconfig,
		"--webhook-cert-path", g.c.WebhookCertDir(),
		"--webhook-host", "127.0.0.1",
		"--webhook-port", strconv.Itoa(g.c.WebhookPort()),
		"--health-probe-bind-address", g.healthAddr,
		"--metrics-bind-address", g.metricsAddr,
		"--metrics-secure=false",
	}, g.args...)
	g.c.guardRuns++
	logPath := filepath.Join(g.c.logDir, fmt.Sprintf("guard-%d.log", g.c.guardRuns))
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	fmt.Fprintf(logFile, "# %s %s\n", g.bin, strings.Join(args, " "))
	cmd := exec.Command(g.bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its own process group, so that Ctrl-C on `make run` reaches only
	// hack/run, which then stops the guard after the requests in flight.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("starting %s: %w", g.bin, err)
	}
	p := &guardProc{cmd: cmd, logPath: logPath, logFile: logFile, done: make(chan struct{})}
	pid := cmd.Process.Pid
	g.c.watchdog.watch(pid)
	go func() {
		p.waitErr = cmd.Wait()
		g.c.watchdog.unwatch(pid)
		logFile.Close()
		close(p.done)
	}()
	go func() {
		select {
		case <-g.ctx.Done():
			_ = p.stop()
		case <-p.done:
		}
	}()
	g.proc = p

	if err := g.waitServing(p); err != nil {
		_ = p.stop()
		return fmt.Errorf("%w\nheadless-guard log (%s):\n%s", err, logPath, tail(readFile(logPath), 40))
	}
	return nil
}

// waitServing waits for /readyz, then for the API server to reach the webhook.
func (g *Guard) waitServing(p *guardProc) error {
	ctx, cancel := context.WithTimeout(g.ctx, readyTimeout)
	defer cancel()
	hc := &http.Client{Timeout: 2 * time.Second}
	poll := func(what string, try func() (bool, error)) error {
		for {
			ok, err := try()
			if ok {
				return nil
			}
			select {
			case <-p.done:
				return fmt.Errorf("headless-guard exited while waiting for %s: %v", what, p.waitErr)
			case <-ctx.Done():
				return fmt.Errorf("headless-guard: no %s within %s (last error: %v)", what, readyTimeout, err)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	if err := poll("200 from "+g.HealthURL()+"/readyz", func() (bool, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, g.HealthURL()+"/readyz", nil)
		resp, err := hc.Do(req)
		if err != nil {
			return false, err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return false, fmt.Errorf("/readyz: %s", resp.Status)
		}
		return true, nil
	}); err != nil {
		return err
	}
	return poll("webhook call from the API server", func() (bool, error) {
		probe := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "headless-guard-probe", Namespace: "default"},
			// A named port keeps the mutating Service webhook out of it.
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "probe", Port: 80}}},
		}
		err := g.c.client.Create(ctx, probe, client.DryRunAll)
		if err != nil && strings.Contains(err.Error(), "failed calling webhook") {
			return false, err
		}
		// Created, denied or warned: the API server reached the guard.
		return true, nil
	})
}

// stop sends SIGTERM to the process group, SIGKILL after stopGrace, and
// reports how the process ended.
func (p *guardProc) stop() error {
	p.stopOnce.Do(func() {
		select {
		case <-p.done:
			if p.waitErr != nil {
				p.stopErr = fmt.Errorf("headless-guard had exited before Stop: %w", p.waitErr)
			}
			return
		default:
		}
		pgid := p.cmd.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-p.done:
			if p.waitErr != nil {
				p.stopErr = fmt.Errorf("headless-guard exited after SIGTERM: %w", p.waitErr)
			}
		case <-time.After(stopGrace):
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-p.done
			p.stopErr = fmt.Errorf("headless-guard did not exit within %s of SIGTERM; killed", stopGrace)
		}
	})
	return p.stopErr
}

func (g *Guard) exited() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.proc == nil {
		return true
	}
	select {
	case <-g.proc.done:
		return true
	default:
		return false
	}
}

// Stop sends SIGTERM, waits, and kills the process group after 10s. It
// returns an error when the guard did not exit cleanly (or had exited on
// its own with an error). Calling it again returns the same result.
func (g *Guard) Stop() error {
	g.mu.Lock()
	p := g.proc
	g.mu.Unlock()
	if p == nil {
		return nil
	}
	return p.stop()
}

// Restart stops the guard and starts it again on the same ports, waiting
// as StartGuard does. With args, they replace the extra arguments given so
// far; without, the previous ones are kept.
func (g *Guard) Restart(args ...string) error {
	// Lock order: the cluster's, then the guard's.
	g.c.mu.Lock()
	defer g.c.mu.Unlock()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.c.closed {
		return errors.New("the cluster is stopped")
	}
	if g.proc != nil {
		if err := g.proc.stop(); err != nil {
			return fmt.Errorf("restart: %w", err)
		}
	}
	if len(args) > 0 {
		g.args = args
	}
	return g.start()
}

// Args are the arguments given after the ones StartGuard sets.
func (g *Guard) Args() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.args...)
}

// Binary is the path of the headless-guard binary that runs.
func (g *Guard) Binary() string { return g.bin }

// MetricsURL is the plain-HTTP metrics endpoint, e.g. http://127.0.0.1:41234/metrics.
func (g *Guard) MetricsURL() string { return "http://" + g.metricsAddr + "/metrics" }

// HealthURL is the health probe server; /healthz and /readyz are under it.
func (g *Guard) HealthURL() string { return "http://" + g.healthAddr }

// Done is closed when the current process exits, for whatever reason.
func (g *Guard) Done() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.proc.done
}

// Logs is what the current process (since the last start) wrote to stderr.
func (g *Guard) Logs() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return readFile(g.proc.logPath)
}

// LogPath is the file the current process writes its stderr to.
func (g *Guard) LogPath() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.proc.logPath
}

// freePorts returns n distinct local ports that were free a moment ago.
func freePorts(n int) ([]int, error) { return FreePorts(n, false) }

func readFile(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	return string(data)
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("... (%d lines before)", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// PID is the process ID of the current process.
func (g *Guard) PID() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.proc.cmd.Process.Pid
}
