package cluster

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
)

// watchdogScript reads commands on stdin: "pg N" adds process group N,
// "unpg N" drops it, "rm PATH" adds a path to remove, "done" exits quietly.
// At end of input without "done" (the process that started it died: the
// write end of the pipe is close-on-exec, so only that process holds it),
// it sends SIGTERM to the process groups, SIGKILL after five seconds, and
// removes the paths. It ignores SIGINT and SIGHUP: Ctrl-C on `go test` or
// `make run` must not take it down before it has cleaned up.
const watchdogScript = `trap '' INT HUP
pgs=' '
rms=''
while read -r cmd arg; do
	case $cmd in
	pg) pgs="$pgs$arg " ;;
	unpg) pgs=$(printf '%s' "$pgs" | sed "s/ $arg / /") ;;
	rm) rms="$rms
$arg" ;;
	done) exit 0 ;;
	esac
done
for pg in $pgs; do kill -TERM "-$pg" 2>/dev/null; done
i=0
while [ $i -lt 50 ]; do
	alive=''
	for pg in $pgs; do kill -0 "-$pg" 2>/dev/null && alive=1; done
	[ -z "$alive" ] && break
	sleep 0.1
	i=$((i+1))
done
for pg in $pgs; do kill -KILL "-$pg" 2>/dev/null; done
printf '%s\n' "$rms" | while IFS= read -r p; do [ -n "$p" ] && rm -rf -- "$p"; done
exit 0
`

// watchdog stops the process groups a Cluster started when the process
// that started them dies without stopping them: envtest starts etcd and
// kube-apiserver with Setpgid, so neither Ctrl-C on the terminal nor the
// death of their parent reaches them. Errors only cost that safety net, so
// they are reported once on stderr and otherwise ignored.
type watchdog struct {
	mu  sync.Mutex
	w   io.WriteCloser
	cmd *exec.Cmd
}

// watchdogPIDs are the process ids of every watchdog of this process: they
// lead process groups too, and no watchdog may be told to kill one.
var (
	watchdogMu   sync.Mutex
	watchdogPIDs = map[int]bool{}
)

func startWatchdog() *watchdog {
	d := &watchdog{}
	r, w, err := os.Pipe()
	if err != nil {
		fmt.Fprintf(os.Stderr, "cluster: no watchdog (%v): processes may outlive a crashed test\n", err)
		return d
	}
	defer r.Close()
	cmd := exec.Command("/bin/sh", "-c", watchdogScript)
	cmd.Stdin = r
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	watchdogMu.Lock()
	defer watchdogMu.Unlock()
	if err := cmd.Start(); err != nil {
		w.Close()
		fmt.Fprintf(os.Stderr, "cluster: no watchdog (%v): processes may outlive a crashed test\n", err)
		return d
	}
	d.w, d.cmd = w, cmd
	watchdogPIDs[cmd.Process.Pid] = true
	return d
}

func (d *watchdog) send(lines ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.w == nil {
		return
	}
	for _, l := range lines {
		if strings.ContainsAny(l, "\n") {
			continue
		}
		io.WriteString(d.w, l+"\n")
	}
}

// watch adds a process group to stop on death.
func (d *watchdog) watch(pgid int) { d.send(fmt.Sprintf("pg %d", pgid)) }

// unwatch drops a process group that has exited, before its id is reused.
func (d *watchdog) unwatch(pgid int) { d.send(fmt.Sprintf("unpg %d", pgid)) }

// removeOnDeath adds paths to remove on death; empty ones are skipped.
func (d *watchdog) removeOnDeath(paths ...string) {
	for _, p := range paths {
		if p != "" {
			d.send("rm " + p)
		}
	}
}

// adoptChildren watches every child of this process that leads its own
// process group: the ones envtest started. A child of another Cluster in
// the same process may be adopted too; that is harmless, as this watchdog
// acts only when the whole process is gone.
func (d *watchdog) adoptChildren() {
	watchdogMu.Lock()
	defer watchdogMu.Unlock()
	for _, pid := range groupLeaderChildren() {
		if !watchdogPIDs[pid] {
			d.watch(pid)
		}
	}
}

// release tells the watchdog that everything was stopped and waits for it.
func (d *watchdog) release() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.w == nil {
		return
	}
	io.WriteString(d.w, "done\n")
	d.w.Close()
	d.w = nil
	_ = d.cmd.Wait()
	watchdogMu.Lock()
	delete(watchdogPIDs, d.cmd.Process.Pid)
	watchdogMu.Unlock()
}
