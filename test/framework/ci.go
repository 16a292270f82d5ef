package framework

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// ClusterDocCommands are the docs' commands that need a cluster; they
// run in TestCheckClusterDocs (test/admission/cluster_check_test.go).
var ClusterDocCommands = []string{
	"headless-guard check --cluster --kubeconfig kubeconfig envs/prod",
	"headless-guard check --cluster --kubeconfig kubeconfig",
	"headless-guard check --admission-review review.json",
}

// ciFixtures is where the CI tests keep their fixtures (their ciFixtures),
// from the repository's root.
var ciFixtures = filepath.Join("test", "binary", "testdata", "ci")

// CopyFixtures copies the CI tests' fixtures, a repository as application
// teams lay theirs out, to a new git repository (a CI checkout) and returns
// its path.
func CopyFixtures(t *testing.T) string {
	t.Helper()
	src := filepath.Join(RepoRoot(t), ciFixtures)
	dst := filepath.Join(t.TempDir(), "checkout")
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("git", "init", "-q", dst).CombinedOutput(); err != nil {
		t.Fatalf("git init: %v\n%s", err, out)
	}
	return dst
}

// Shell runs script with bash in dir, with the binary under test and the
// tests' helm (HelmBinary) first on PATH, as `headless-guard` and `helm`.
func Shell(t *testing.T, dir, script string) Result {
	t.Helper()
	sep := string(os.PathListSeparator)
	cmd := exec.Command("bash", "-c", script)
	cmd.Dir = dir
	path := filepath.Dir(Binary) + sep + os.Getenv("PATH")
	if strings.Contains(script, "helm ") {
		path = filepath.Dir(Binary) + sep + filepath.Dir(HelmBinary(t)) + sep + os.Getenv("PATH")
	}
	cmd.Env = append(os.Environ(), "PATH="+path)
	return runCmd(t, cmd)
}
