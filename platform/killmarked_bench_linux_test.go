package platform_test

import (
	"context"
	"fmt"
	"os/exec"
	"testing"

	"github.com/hoist-jit/hoist/platform"
)

// BenchmarkKillMarked measures the sweep of a session's end over a machine
// where procs processes each hold an environment of 60,000 variables
// (about 1.2 MB), the shape of the attack in issue 13, and none holds the
// marker. Reported as ms/sweep.
func BenchmarkKillMarked(b *testing.B) {
	for _, procs := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("procs=%d/vars=60000", procs), func(b *testing.B) {
			hugeEnvironments(b, procs, 60000)
			for b.Loop() {
				killed, err := platform.KillMarked(context.Background(), "HOIST_SESSION=ses_bench_absent")
				if err != nil || len(killed) != 0 {
					b.Fatalf("killed %v, err %v", killed, err)
				}
			}
		})
	}
}

// hugeEnvironments starts n sleeps with vars variables each, ended at cleanup.
func hugeEnvironments(b *testing.B, n, vars int) {
	b.Helper()
	env := make([]string, vars)
	for i := range env {
		env[i] = fmt.Sprintf("V%06d=xxxxxxxxxxxx", i)
	}
	for range n {
		cmd := exec.Command("/bin/sleep", "1000")
		cmd.Env = env
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	}
}
