package main

import (
	"bytes"
	"os"
	"testing"

	"github.com/headless-guard/headless-guard/rules"
)

// TestRulesDocUpToDate fails when docs/rules.md no longer matches the registry.
func TestRulesDocUpToDate(t *testing.T) {
	const path = "../../docs/rules.md"
	want := rulesMarkdown(rules.Default())
	if os.Getenv("UPDATE_GOLDEN") != "" {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v: run `make docs`", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("docs/rules.md is stale: run `make docs`")
	}
	for _, r := range rules.Default().Rules() {
		if !bytes.Contains(got, []byte(`<a id="`+r.Anchor()+`"></a>`)) {
			t.Errorf("docs/rules.md has no anchor for %s", r.ID)
		}
	}
}
