package agent_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/hoist-jit/hoist/agent"
	"github.com/hoist-jit/hoist/testenv"
)

// TestTerminalIsRecorded types into an elevated shell on a real terminal:
// hoistd records what it shows in asciicast v2, the window's resize too,
// and the recording waits in the state directory for its upload.
func TestTerminalIsRecorded(t *testing.T) {
	r := newRig(t)
	sid := r.grant(time.Hour)
	m := newTmux(t, r, `sh -c 'hoist run -- /bin/bash --norc -i; echo "hoist-exit=$?"; sleep 1000'`)
	m.waitScreen("#")
	m.keys("echo hello-recording", "Enter")
	m.waitScreen("\nhello-recording")
	m.run("resize-window", "-t", "0", "-x", "100", "-y", "30")
	m.keys("stty size", "Enter")
	m.waitScreen("30 100")
	m.keys("exit 3", "Enter")
	m.waitScreen("hoist-exit=3")

	recs := waitRecordings(t, r.agent, 1)
	if recs[0].Session != sid || recs[0].User != r.user.Name || recs[0].Input {
		t.Errorf("recording = %+v, want session %s, user %s, output only", recs[0], sid, r.user.Name)
	}
	data, err := os.ReadFile(r.agent.RecordingPath(recs[0].ID))
	if err != nil {
		t.Fatal(err)
	}
	header, events := parseCast(t, data)
	if header.Width != 80 || header.Height != 24 || header.Env["TERM"] == "" {
		t.Errorf("header = %+v, want 80x24 and the client's TERM", header)
	}
	var out strings.Builder
	resized := false
	for _, ev := range events {
		switch ev.code {
		case "o":
			out.WriteString(ev.data)
		case "r":
			resized = resized || ev.data == "100x30"
		case "i":
			t.Errorf("input recorded though the configuration records output only: %q", ev.data)
		}
	}
	if !strings.Contains(out.String(), "hello-recording\r\n") {
		t.Errorf("the recording's output lacks the command's:\n%q", out.String())
	}
	if !resized {
		t.Errorf("no resize to 100x30 among the events")
	}
	if evs := r.events("recording.finished"); len(evs) != 1 || evs[0].Subject != sid {
		t.Errorf("recording.finished events = %+v, want one for %s", evs, sid)
	}
	if err := r.agent.RecordingUploaded(recs[0].ID); err != nil {
		t.Fatal(err)
	}
	if left, _ := r.agent.PendingRecordings(); len(left) != 0 {
		t.Errorf("after the upload, still pending: %+v", left)
	}
}

func waitRecordings(t *testing.T, a *agent.Agent, n int) []agent.RecordingMeta {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; {
		recs, err := a.PendingRecordings()
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) >= n {
			return recs
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d recordings pending, want %d", len(recs), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type castHeader struct {
	Version   int               `json:"version"`
	Width     int               `json:"width"`
	Height    int               `json:"height"`
	Timestamp int64             `json:"timestamp"`
	Env       map[string]string `json:"env"`
}

type castEvent struct {
	at         float64
	code, data string
}

// parseCast checks data is asciicast v2 as a player reads it: a header
// object with version 2, then arrays [time, code, data] whose times never
// go back.
func parseCast(t *testing.T, data []byte) (castHeader, []castEvent) {
	t.Helper()
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	var h castHeader
	if !sc.Scan() {
		t.Fatal("empty recording")
	}
	if err := json.Unmarshal(sc.Bytes(), &h); err != nil || h.Version != 2 || h.Timestamp == 0 {
		t.Fatalf("header %q: %+v, %v", sc.Bytes(), h, err)
	}
	var events []castEvent
	last := 0.0
	for sc.Scan() {
		var raw []json.RawMessage
		if err := json.Unmarshal(sc.Bytes(), &raw); err != nil || len(raw) != 3 {
			t.Fatalf("event %q is not a 3-element array: %v", sc.Bytes(), err)
		}
		var ev castEvent
		if err := json.Unmarshal(raw[0], &ev.at); err != nil {
			t.Fatalf("event %q: time: %v", sc.Bytes(), err)
		}
		if json.Unmarshal(raw[1], &ev.code) != nil || json.Unmarshal(raw[2], &ev.data) != nil {
			t.Fatalf("event %q: code and data must be strings", sc.Bytes())
		}
		if ev.at < last {
			t.Fatalf("event %q goes back in time from %v", sc.Bytes(), last)
		}
		last = ev.at
		events = append(events, ev)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(fmt.Errorf("reading the recording: %w", err))
	}
	return h, events
}

// TestStalledClientHoldsNothing runs a program that writes without end on
// a recorded terminal whose client has stopped reading: hoistd goes on
// serving another run, and the session still ends on time.
func TestStalledClientHoldsNothing(t *testing.T) {
	r := newRig(t)
	sid := r.grant(time.Hour)
	leader, follower, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer leader.Close() // never read until the end: the user's terminal is stuck
	cmd := r.command(`exec hoist run -- yes stalled-client`)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = follower, follower, follower
	cmd.SysProcAttr.Setsid, cmd.SysProcAttr.Setctty = true, true
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	follower.Close()
	testenv.WaitUntil(t, "yes to start", func() bool { return len(r.events("command.started")) == 1 })

	if got := r.sh("", "hoist run -- id -u"); got.code != 0 || strings.TrimSpace(got.stdout) != "0" {
		t.Fatalf("another run beside the stalled one: exit %d, %q, %q", got.code, got.stdout, got.stderr)
	}
	r.clock.Add(time.Hour)
	testenv.WaitUntil(t, "the session to end", func() bool { return len(r.events("session.ended")) == 1 })
	testenv.WaitUntil(t, "yes to be reaped", func() bool { return len(r.events("command.ended")) == 2 })
	recs := waitRecordings(t, r.agent, 1)
	if recs[0].Session != sid || recs[0].Bytes == 0 {
		t.Errorf("recording %+v, want one of session %s with what yes wrote", recs[0], sid)
	}
	leader.Close()
	_ = cmd.Wait()
}

// TestRecordingIsBoundedPerSession: past the session's limit a recording
// ends with a "recording truncated" marker, the audit says so, and the
// program runs on unhindered.
func TestRecordingIsBoundedPerSession(t *testing.T) {
	_, err := exec.LookPath("script")
	testenv.Require(t, err == nil, "needs script(1) (bsdutils)")
	r := newRig(t)
	r.stop()
	r.recordLimit = 8 << 10
	r.start()
	sid := r.grant(time.Hour)
	got := r.sh("", `script -qec "hoist run -- sh -c 'yes recorded-line | head -n 20000; echo end-of-output'" /dev/null`)
	if got.code != 0 || !strings.Contains(got.stdout, "end-of-output") {
		t.Fatalf("the program on a recorded terminal: exit %d, stdout %.200q…, stderr %q", got.code, got.stdout, got.stderr)
	}
	recs := waitRecordings(t, r.agent, 1)
	data, err := os.ReadFile(r.agent.RecordingPath(recs[0].ID))
	if err != nil {
		t.Fatal(err)
	}
	_, events := parseCast(t, data)
	last := events[len(events)-1]
	if last.code != "m" || last.data != "recording truncated" || !recs[0].Truncated {
		t.Errorf("the last event is %+v (truncated %v), want the marker", last, recs[0].Truncated)
	}
	if len(data) > 8<<10+1024 {
		t.Errorf("the recording holds %d bytes, over the 8 KiB limit and its header", len(data))
	}
	if evs := r.events("recording.truncated"); len(evs) != 1 || evs[0].Subject != sid {
		t.Errorf("recording.truncated events: %+v", evs)
	}
	// The next recording of the session has nothing left: it is the
	// header and the marker.
	r.sh("", `script -qec "hoist run -- echo second" /dev/null`)
	recs = waitRecordings(t, r.agent, 2)
	if !recs[1].Truncated {
		t.Errorf("a second recording past the session's limit: %+v", recs[1])
	}
}
