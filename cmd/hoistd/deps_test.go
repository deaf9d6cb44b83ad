package main

import (
	"flag"
	"testing"

	"github.com/hoist-jit/hoist/testenv"
)

//go:generate go test -run ^TestDependencies$ -update .

var update = flag.Bool("update", false, "rewrite deps.txt from the build")

// TestDependencies holds the root daemon to its checked-in dependency list:
// every package hoistd links runs as root on every endpoint, so a new one
// is a change someone reviews, not a side effect of an import.
func TestDependencies(t *testing.T) {
	testenv.CheckDeps(t, "github.com/hoist-jit/hoist/cmd/hoistd", "deps.txt", "go generate ./cmd/hoistd", *update)
}
