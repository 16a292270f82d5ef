package binary

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/headless-guard/headless-guard/test/framework"
)

// TestCheckStdinTerminal: `check -` on a terminal says it is reading
// standard input instead of waiting without a word; from a pipe it
// says nothing.
func TestCheckStdinTerminal(t *testing.T) {
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Fatalf("opening a pseudo-terminal: %v", err)
	}
	defer ptmx.Close()
	if err := unix.IoctlSetPointerInt(int(ptmx.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(ptmx.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	pts, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer pts.Close()
	cmd := exec.Command(framework.Binary, "check", "-")
	var out, errOut bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = pts, &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	const said = "reading manifests from standard input"
	// A Service, then end of input (Ctrl-D at the start of a line); the
	// terminal holds them until check reads.
	ptmx.WriteString("apiVersion: v1\nkind: Service\nmetadata: {name: a}\n\x04")
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("check - did not end after Ctrl-D; stderr:\n%s", errOut.String())
	}
	if err != nil || !strings.Contains(errOut.String(), said) || !strings.Contains(out.String(), "1 object checked") {
		t.Errorf("on a terminal: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errOut.String())
	}
	if r := framework.Run(t, []byte("apiVersion: v1\nkind: Service\nmetadata: {name: a}\n"), "check", "-"); strings.Contains(r.Stderr, said) {
		t.Errorf("from a pipe, check says it reads a terminal:\n%s", r.Stderr)
	}
}
