package main

import (
	"flag"
	"testing"

	"github.com/hoist-jit/hoist/testenv"
)

//go:generate go test -run ^TestDependencies$ -update .

var update = flag.Bool("update", false, "rewrite deps.txt from the build")

// TestDependencies holds the hoist command to its checked-in dependency
// list: it is what every user runs to reach hoistd, so what it links is
// reviewed like the root daemon's.
func TestDependencies(t *testing.T) {
	testenv.CheckDeps(t, "github.com/hoist-jit/hoist/cmd/hoist", "deps.txt", "go generate ./cmd/hoist", *update)
}
