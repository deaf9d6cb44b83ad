package testenv

import (
	"os"
	"strconv"
	"strings"
	"syscall"
)

// killProcessesOf sends SIGKILL to every process whose real, effective or
// saved uid is uid, and says how many it found. Only for a test's own
// fresh user: every process with that uid is one the test started (a
// daemon an escape left behind, a shell on its way out), and none other
// can have it.
func killProcessesOf(uid uint32) int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	want := strconv.FormatUint(uint64(uid), 10)
	n := 0
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		status, err := os.ReadFile("/proc/" + e.Name() + "/status")
		if err != nil {
			continue
		}
		for line := range strings.Lines(string(status)) {
			if rest, ok := strings.CutPrefix(line, "Uid:"); ok {
				f := strings.Fields(rest)
				if len(f) >= 3 && (f[0] == want || f[1] == want || f[2] == want) {
					_ = syscall.Kill(pid, syscall.SIGKILL)
					n++
				}
				break
			}
		}
	}
	return n
}
