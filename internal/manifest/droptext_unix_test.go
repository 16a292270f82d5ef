//go:build unix

package manifest

import (
	"bytes"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestDropTextKeepsPipes checks that a pipe, such as the /dev/fd/63 of
// `check <(helm template ...)`, keeps its text: it cannot be read again.
func TestDropTextKeepsPipes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fifo.yaml")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Skip("no FIFO:", err)
	}
	go func() {
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		defer f.Close()
		_, _ = f.WriteString(dropTextInput)
	}()
	set, err := Load([]string{path}, Options{DropText: true, Minimal: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Objects) == 0 {
		t.Fatal("no object read from the pipe")
	}
	for _, o := range set.Objects {
		if o.Doc.Raw == nil || !bytes.Equal(o.Text(), o.Doc.Raw) {
			t.Errorf("%s: the pipe's text was dropped", o.Ref)
		}
	}
	if got := set.Objects[0].FieldLine("spec.ports[0].port"); got != 8 {
		t.Errorf("FieldLine = %d, want 8", got)
	}
}
