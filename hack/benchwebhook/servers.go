package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/headless-guard/headless-guard/test/cluster"
)

// server is a webhook server on the cluster's webhook port: the real
// headless-guard binary, or the do-nothing webhook. One runs at a time.
type server interface {
	Name() string
	Start() error
	Stop() error
	PID() int
}

// guardServer is `headless-guard serve` run by test/cluster.
type guardServer struct {
	c   *cluster.Cluster
	ctx context.Context
	g   *cluster.Guard
	pid int
	// args are added to `serve`'s at the next start; env (NAME=value) is
	// set for it.
	args []string
	env  []string
	// base are added at every start (-guard-args).
	base []string
}

func (s *guardServer) Name() string { return "headless-guard" }

func (s *guardServer) Start() error {
	// The guard inherits this process's environment.
	for _, kv := range s.env {
		k, v, _ := strings.Cut(kv, "=")
		old, had := os.LookupEnv(k)
		os.Setenv(k, v)
		defer func() {
			if had {
				os.Setenv(k, old)
			} else {
				os.Unsetenv(k)
			}
		}()
	}
	// Restart keeps the previous arguments when given none: pass a default.
	args := append(append([]string{"--audit=true"}, s.base...), s.args...)
	var err error
	if s.g == nil {
		s.g, err = s.c.StartGuard(s.ctx, args...)
	} else {
		err = s.g.Restart(args...)
	}
	if err != nil {
		return err
	}
	s.pid, err = findPID(s.g.Binary(), s.c.KubeconfigPath())
	return err
}

func (s *guardServer) Stop() error {
	if s.g == nil {
		return nil
	}
	s.pid = 0
	return s.g.Stop()
}

func (s *guardServer) PID() int { return s.pid }

// nopServer is the do-nothing webhook binary (test/load/nopwebhook).
type nopServer struct {
	bin, certDir string
	port         int
	cmd          *exec.Cmd
	done         chan struct{}
	ctx          context.Context
}

func (s *nopServer) Name() string { return "do-nothing" }

func (s *nopServer) Start() error {
	cmd := exec.Command(s.bin, "--webhook-host", "127.0.0.1", "--webhook-port", strconv.Itoa(s.port), "--webhook-cert-path", s.certDir)
	cmd.Stderr = os.Stderr
	// Never outlives this process.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	s.cmd, s.done = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); close(s.done) }()
	return waitTLS(s.ctx, s.port, 30*time.Second)
}

func (s *nopServer) Stop() error {
	if s.cmd == nil {
		return nil
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
	return nil
}

func (s *nopServer) PID() int {
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// buildNop builds the do-nothing webhook as `make build` builds the guard.
func buildNop(root, dir string) (string, error) {
	bin := filepath.Join(dir, "nopwebhook")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "./test/load/nopwebhook")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the do-nothing webhook: %v\n%s", err, out)
	}
	return bin, nil
}

// findPID finds the process running binary with kubeconfig among its
// arguments: the guard of this cluster, whatever else runs on the machine.
func findPID(binary, kubeconfig string) (int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(bytes.TrimRight(data, "\x00")), "\x00")
		if len(args) > 0 && args[0] == binary && strings.Contains(string(data), "\x00"+kubeconfig+"\x00") {
			return pid, nil
		}
	}
	return 0, fmt.Errorf("no process %s with --kubeconfig %s", binary, kubeconfig)
}

// procStat is what /proc says about a process.
type procStat struct {
	cpu      time.Duration // user + system
	rss, hwm int64         // resident set now and at its peak, bytes
	// anon and file split rss: the heap and stacks, and the mapped binary.
	anon, file int64
}

func readProc(pid int) (procStat, error) {
	var st procStat
	if pid == 0 {
		return st, errors.New("no process")
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return st, err
	}
	// Fields after the command name, which is in parentheses.
	fields := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+2:]))
	if len(fields) < 13 {
		return st, fmt.Errorf("/proc/%d/stat: %q", pid, data)
	}
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	const clkTck = 100 // USER_HZ on Linux
	st.cpu = time.Duration(utime+stime) * time.Second / clkTck
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return st, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			st.rss = kb * 1024
		case "VmHWM":
			st.hwm = kb * 1024
		case "RssAnon":
			st.anon = kb * 1024
		case "RssFile":
			st.file = kb * 1024
		}
	}
	return st, sc.Err()
}

// loadAvg is the 1-minute load average, printed with every figure: other
// work on the machine moves absolute numbers.
func loadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(data))[0]
}
