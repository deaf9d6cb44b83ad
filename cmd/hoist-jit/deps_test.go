package main

import (
	"flag"
	"testing"

	"github.com/hoist-jit/hoist/testenv"
)

//go:generate go test -run ^TestDependencies$ -update .

var update = flag.Bool("update", false, "rewrite deps.txt from the build")

// TestDependencies holds hoist-jit (the JIT helper) to its checked-in
// dependency list, as hoist is held to its own.
func TestDependencies(t *testing.T) {
	testenv.CheckDeps(t, "github.com/hoist-jit/hoist/cmd/hoist-jit", "deps.txt", "go generate ./cmd/hoist-jit", *update)
}
