//go:build !linux

package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "bench: the benchmarks run on Linux only (cgroups, sudo, hoistd)")
	os.Exit(2)
}
