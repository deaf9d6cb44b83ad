package agent_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hoist-jit/hoist/testenv"
)

// TestReviewConcurrentRecordingsShareSessionLimit: the session's recording
// limit covers all its recordings together (DefaultRecordLimit's contract),
// so two runs recorded at the same time must not each get the whole limit.
func TestReviewConcurrentRecordingsShareSessionLimit(t *testing.T) {
	_, err := exec.LookPath("script")
	testenv.Require(t, err == nil, "needs script(1) (bsdutils)")
	r := newRig(t)
	r.stop()
	r.recordLimit = 8 << 10
	r.start()
	r.grant(time.Hour)
	marker := filepath.Join(t.TempDir(), "go")
	prog := `script -qec "hoist run -- sh -c 'while [ ! -e ` + marker + ` ]; do sleep 0.1; done; yes recorded-line | head -n 20000'" /dev/null >/dev/null`
	var cmds []*exec.Cmd
	for range 4 {
		c := r.command(prog)
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, c)
	}
	testenv.WaitUntil(t, "four recorded runs to start", func() bool { return len(r.events("command.started")) == 4 })
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range cmds {
		_ = c.Wait()
	}
	recs := waitRecordings(t, r.agent, 4)
	var total int64
	for _, m := range recs {
		data, err := os.ReadFile(r.agent.RecordingPath(m.ID))
		if err != nil {
			t.Fatal(err)
		}
		total += int64(len(data)) - int64(strings.IndexByte(string(data), '\n')+1) // events only
	}
	if total > 8<<10+4*256 {
		t.Errorf("4 concurrent recordings of one session hold %d bytes of events; the session's limit is %d", total, 8<<10)
	}
}
