package main

import (
	"flag"
	"testing"

	"github.com/hoist-jit/hoist/testenv"
)

//go:generate go test -run ^TestDependencies$ -update .

var update = flag.Bool("update", false, "rewrite deps.txt from the build")

// TestDependencies holds hoist-admin (the admin client and the rest of hoist's command line) to its checked-in
// dependency list, as hoist is held to its own.
func TestDependencies(t *testing.T) {
	testenv.CheckDeps(t, "github.com/hoist-jit/hoist/cmd/hoist-admin", "deps.txt", "go generate ./cmd/hoist-admin", *update)
}
