package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/headless-guard/headless-guard/test/cluster"
)

// TestTriesShowWhatTheyPromise runs each command the banner suggests, as
// printed, in a shell with the banner's KUBECONFIG and PATH, against a
// cluster with headless-guard, in order, and looks for the line that
// shows it did what it promises.
func TestTriesShowWhatTheyPromise(t *testing.T) {
	c := cluster.Setup(t, cluster.Options{})
	if _, err := c.StartGuard(t.Context()); err != nil {
		t.Fatal(err)
	}
	root := c.Root()
	for _, try := range tries {
		line := try.commandLine(root)
		cmd := exec.CommandContext(context.Background(), "bash", "-c", line)
		cmd.Env = append(os.Environ(), "KUBECONFIG="+c.KubeconfigPath(), "PATH="+filepath.Dir(c.KubectlPath())+":"+os.Getenv("PATH"))
		out, _ := cmd.CombinedOutput()
		if !strings.Contains(string(out), try.shows) {
			t.Errorf("%s\nshows:\n%s\nwant a line with %q", line, out, try.shows)
		}
		for _, other := range []string{"HG011", "HG002", "HG004"} {
			if other != strings.Trim(strings.Fields(try.shows)[0], "(") && strings.Contains(string(out), "("+other+" ") {
				t.Errorf("%s\nshows %s too, which it does not promise:\n%s", line, other, out)
			}
		}
	}
}
