package e2e_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hoist-jit/hoist/testenv"
)

// smallFS mounts a tmpfs of size (like "8m") on a new directory and
// unmounts it when t ends, after everything registered later (hoistd) has
// stopped.
func smallFS(t *testing.T, size string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "hoist-faults-disk-")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0700", "tmpfs", dir).CombinedOutput(); err != nil {
		os.Remove(dir)
		testenv.Require(t, false, "needs to mount a tmpfs: "+string(out))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
			return
		}
		os.Remove(dir)
	})
	return dir
}

// fill writes zeros to a file in dir until the file system is full.
func fill(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	_ = exec.Command("dd", "if=/dev/zero", "of="+path, "bs=64k").Run() // ends with ENOSPC, as meant
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("filled %s with %d bytes", dir, st.Size())
	return path
}

// checkState fails t for a temporary file left behind or a state file that
// does not parse: JSON files whole, the outbox's lines each. hoistd runs
// meanwhile and retries the writes the full disk refused, so a temporary
// file can exist for the moment of a write that is about to fail and be
// removed: one seen fails t only if it is still there when the wait ends.
func checkState(t *testing.T, dir string) {
	t.Helper()
	var temporary []string
	defer func() {
		t.Helper()
		if len(temporary) == 0 {
			return
		}
		testenv.WaitUntil(t, fmt.Sprintf("the temporary files %v to go (a temporary file left behind)", temporary), func() bool {
			for _, path := range temporary {
				if _, err := os.Lstat(path); err == nil {
					return false
				}
			}
			return true
		})
	}()
	_ = filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || filepath.Base(path) == "filler" {
			return nil
		}
		name := filepath.Base(path)
		data, _ := os.ReadFile(path)
		switch {
		case strings.HasPrefix(name, ".tmp-"):
			temporary = append(temporary, path)
		case strings.HasSuffix(name, ".json"):
			if !json.Valid(data) {
				t.Errorf("state file %s does not parse: %q", path, data)
			}
		case strings.Contains(name, "outbox"):
			for i, line := range bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n")) {
				if len(line) > 0 && !json.Valid(line) {
					t.Errorf("outbox %s line %d is not whole: %q", path, i+1, line)
				}
			}
		}
		return nil
	})
}

// TestFaultAgentDiskFull fills the file system that holds hoistd's state:
// a new session is refused (the user is told why), the running session
// still ends on time, no state file is left half-written, and once there
// is room again the queued audit events arrive and sessions start again.
func TestFaultAgentDiskFull(t *testing.T) {
	testenv.RequireRoot(t)
	state := smallFS(t, "16m")
	s := startServerProc(t, t.TempDir(), freeAddr(t), "")
	ad := s.admin()
	ad.enableJIT()
	agent := newHoistd(t, s, ad.enrollToken(), state)
	running, late := testenv.NewUser(t), testenv.NewUser(t)

	// A session of a few seconds, with a program running in it.
	const window = 6 * time.Second
	id := agent.request(running, "--for 1h --reason disk")
	approvedAt := time.Now()
	ad.must("POST", "/api/v1/requests/approve", map[string]any{"ids": []string{id}, "duration": window.String()}, nil)
	testenv.WaitUntil(t, "the running session", func() bool { return agent.status(running).State == "active" })
	prog := exec.Command("/bin/sh", "-c", "exec hoist run -- sleep 1000")
	prog.Env = []string{"PATH=" + agent.bin + ":/usr/bin:/bin", "HOIST_SOCKET=" + agent.socket, "HOME=/tmp"}
	prog.SysProcAttr = userAttr(running)
	if err := prog.Start(); err != nil {
		t.Fatal(err)
	}
	progDone := make(chan struct{})
	go func() { _ = prog.Wait(); close(progDone) }()
	testenv.WaitUntil(t, "the elevated program", func() bool {
		g, err := agent.cgs.OpenGroup(agent.status(running).SessionID)
		if err != nil {
			return false
		}
		pids, _ := g.Pids()
		return len(pids) > 0
	})

	filler := fill(t, state)

	// A new session while the disk is full.
	code, out, errOut := agent.sh(late, "hoist request --for 1h --reason full")
	if code != 0 {
		t.Fatalf("hoist request on a full disk (the request needs no disk): exit %d, %q %q", code, out, errOut)
	}
	{
		lateID := strings.TrimSpace(out[strings.LastIndex(strings.TrimSpace(out), "\n")+1:])
		ad.must("POST", "/api/v1/requests/approve", map[string]any{"ids": []string{lateID}, "duration": "1h"}, nil)
		// The grant arrives, and hoistd cannot record the session: it must
		// not start one it could not resume after a restart, and it says so.
		testenv.WaitUntil(t, "hoistd to refuse the grant it cannot record", func() bool { return agent.status(late).RequestState == "refused" })
		if st := agent.status(late); st.State == "active" {
			t.Errorf("a session started on a full disk: %+v", st)
		}
		_, said, _ := agent.sh(late, "hoist status")
		if !strings.Contains(said, "disk is full") {
			t.Errorf("hoist status after a grant refused on a full disk says %q; want the reason", said)
		}
		figure(t, "disk.refused", "%s", strings.TrimSpace(said))
	}
	code, out, errOut = agent.sh(running, "hoist run -- true")
	figure(t, "disk.run", "hoist run in a running session on a full disk: exit %d, %q", code, strings.TrimSpace(errOut+out))
	commands := 1 // the sleep
	if code == 0 {
		commands++
	}

	// The running session ends on time even so.
	testenv.WaitUntil(t, "the running session to end on a full disk", func() bool { return agent.status(running).State != "active" })
	<-progDone
	figure(t, "disk.end", "a %s session ended %s after its approval, on a full disk", window, time.Since(approvedAt).Round(10*time.Millisecond))
	checkState(t, state)
	sid := agent.status(running).SessionID

	// hoistd restarts while the disk is still full: it could not write
	// down that the session ended, so it ends it again, and that end must
	// not reach the server as a second one.
	agent.stop(10 * time.Second)
	agent.start()
	testenv.WaitUntil(t, "the restarted hoistd to end the session again", func() bool {
		return strings.Contains(tail(agent.log, 200), "msg=\"session ended\" session="+sid)
	})
	checkState(t, state)

	// Room again: the queued events arrive, and sessions start again.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	freed := time.Now()
	testenv.WaitUntil(t, "the session's end on the server once there is room", func() bool {
		_, ns := byAction(ad.audit())
		return ns["agent.session.ended "+sid] >= 1
	})
	figure(t, "disk.outbox", "queued events arrived %s after space returned", time.Since(freed).Round(10*time.Millisecond))
	// The end hoistd could not write on the full disk is written once there
	// is room: a restart must not end (and audit) the session again.
	testenv.WaitUntil(t, "the session's end on disk once there is room", func() bool {
		var rec struct {
			State string `json:"state"`
		}
		data, err := os.ReadFile(filepath.Join(state, "sessions", sid+".json"))
		return err == nil && json.Unmarshal(data, &rec) == nil && rec.State == "ended"
	})
	// Every event queued on the full disk has reached the server.
	testenv.WaitUntil(t, "the outbox to drain once there is room", func() bool {
		info, err := os.Stat(filepath.Join(state, "outbox.jsonl"))
		return err == nil && info.Size() == 0
	})
	agent.stop(10 * time.Second)
	agent.start() // the state it wrote on a full disk loads
	// The grant refused on the full disk starts now that there is room
	// (its window is open), and survives the restart.
	testenv.WaitUntil(t, "the grant given on the full disk to start once there is room", func() bool { return agent.status(late).State == "active" })
	figure(t, "disk.grant", "the grant given on the full disk started %s after space returned (hoistd retries every 0.5s)", time.Since(freed).Round(10*time.Millisecond))
	checkState(t, state)
	n, ns := byAction(ad.audit())
	if n["agent.command.started"] != commands {
		t.Errorf("%d elevated programs on the server, want %d: every program that ran is recorded, once", n["agent.command.started"], commands)
	}
	if ns["agent.session.ended "+sid] != 1 {
		t.Errorf("the session's end is on the server %d times, want once", ns["agent.session.ended "+sid])
	}
	if n["alert.agent_audit_gap"] != 0 {
		t.Errorf("%d audit gap alerts: an end recorded again must not look like a lost event", n["alert.agent_audit_gap"])
	}
	ad.verifyAudit()
}
