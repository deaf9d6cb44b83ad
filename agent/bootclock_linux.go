package agent

import (
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// bootClock reads this boot's id and the time since it began, counted by
// CLOCK_BOOTTIME: a clock nobody can set, that runs on through suspend and
// survives a restart of hoistd (not a reboot: hence the id).
func bootClock() (id string, since time.Duration, ok bool) {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return "", 0, false
	}
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return "", 0, false
	}
	return strings.TrimSpace(string(b)), time.Duration(ts.Nano()), true
}
