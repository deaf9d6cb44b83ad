package server_test

import (
	"os"
	"runtime/debug"
	"testing"

	"github.com/hoist-jit/hoist/server"
)

// TestTuneCollector: the flag's target is set, unless the environment's
// GOGC says otherwise. Not parallel: the target is the process's.
func TestTuneCollector(t *testing.T) {
	before := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(before) })

	t.Run("the flag's target", func(t *testing.T) {
		t.Setenv("GOGC", "")
		os.Unsetenv("GOGC") // t.Setenv restores it after the test
		if got, want := server.TuneCollector(37), 37; got != want {
			t.Errorf("TuneCollector(37) = %d, want %d", got, want)
		}
		if got, want := debug.SetGCPercent(100), 37; got != want {
			t.Errorf("the collector's target is %d, want %d", got, want)
		}
	})
	t.Run("GOGC wins", func(t *testing.T) {
		t.Setenv("GOGC", "80") // as if the process had started with it
		debug.SetGCPercent(80)
		if got, want := server.TuneCollector(37), 80; got != want {
			t.Errorf("TuneCollector(37) under GOGC=80 = %d, want %d", got, want)
		}
		if got, want := debug.SetGCPercent(100), 80; got != want {
			t.Errorf("the collector's target is %d, want %d", got, want)
		}
	})
}
