//go:build linux

package main

import (
	"strings"
	"testing"
)

// TestWordsAfterFlagsAreRefused: a command the harness does not read (a
// render with flags before it) is refused instead of starting a full run.
func TestWordsAfterFlagsAreRefused(t *testing.T) {
	_, err := parseFlags([]string{"-out", "/tmp/x.md", "render", "bench/results/run.json"})
	if err == nil || !strings.Contains(err.Error(), `unexpected argument "render"`) {
		t.Fatalf("flags then render: %v, want it refused", err)
	}
	if _, err := parseFlags([]string{"-only", "footprint"}); err != nil {
		t.Fatalf("flags alone: %v", err)
	}
}
