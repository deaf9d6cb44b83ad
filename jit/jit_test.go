package jit_test

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hoist-jit/hoist/jit"
	"github.com/hoist-jit/hoist/localapi"
)

func TestRemindersFireOnceEachInOrder(t *testing.T) {
	r := jit.NewReminders([]time.Duration{time.Minute, 15 * time.Minute, 5 * time.Minute}, 0)
	var got []time.Duration
	for left := 20 * time.Minute; left >= 0; left -= 10 * time.Second {
		got = append(got, r.Due("ses_a", left)...)
	}
	if len(got) != 3 || got[0] != 15*time.Minute || got[1] != 5*time.Minute || got[2] != time.Minute {
		t.Fatalf("reminders %v, want 15m, 5m, 1m once each", got)
	}
	if !r.Last(time.Minute) || r.Last(5*time.Minute) {
		t.Fatal("Last is wrong")
	}
}

func TestRemindersAlreadyPastAreNotGiven(t *testing.T) {
	r := jit.NewReminders([]time.Duration{15 * time.Minute, 5 * time.Minute, time.Minute}, 0)
	if due := r.Due("ses_a", 10*time.Minute); len(due) != 0 {
		t.Fatalf("attached with 10m left and got %v", due)
	}
	if due := r.Due("ses_a", 5*time.Minute); len(due) != 1 || due[0] != 5*time.Minute {
		t.Fatalf("at 5m: %v", due)
	}
	// A suspended laptop wakes with 30s left: one reminder, the urgent one.
	if due := r.Due("ses_a", 30*time.Second); len(due) != 1 || due[0] != time.Minute {
		t.Fatalf("after a jump: %v", due)
	}
	// A new session starts over.
	if due := r.Due("ses_b", 16*time.Minute); len(due) != 0 {
		t.Fatalf("new session: %v", due)
	}
	if due := r.Due("ses_b", 15*time.Minute); len(due) != 1 {
		t.Fatalf("new session at 15m: %v", due)
	}
}

// TestPeriodicReminders: "every 30m" reminds at each half hour of time
// left above the final marks, then at the marks; never at the first look,
// one at a time after a jump, and again from the new end once a session
// is extended.
func TestPeriodicReminders(t *testing.T) {
	marks := []time.Duration{15 * time.Minute, 5 * time.Minute, time.Minute}
	// walk looks at the session every step from from down to to.
	walk := func(r *jit.Reminders, session string, from, to, step time.Duration) []time.Duration {
		var got []time.Duration
		for left := from; left >= to; left -= step {
			got = append(got, r.Due(session, left)...)
		}
		return got
	}
	for _, tc := range []struct {
		name       string
		every      time.Duration
		from, step time.Duration
		want       string
	}{
		{"a 2-hour session, every 30m", 30 * time.Minute, 2 * time.Hour, 7 * time.Second, "[1h30m0s 1h0m0s 30m0s 15m0s 5m0s 1m0s]"},
		{"started just after a half hour", 30 * time.Minute, 2*time.Hour - 2*time.Second, time.Second, "[1h30m0s 1h0m0s 30m0s 15m0s 5m0s 1m0s]"},
		{"a period under the final marks adds nothing below them", 10 * time.Minute, 40 * time.Minute, 10 * time.Second, "[30m0s 20m0s 15m0s 5m0s 1m0s]"},
		{"no period: the final marks only", 0, 2 * time.Hour, 10 * time.Second, "[15m0s 5m0s 1m0s]"},
		{"looks a minute apart", time.Hour, 4 * time.Hour, time.Minute, "[3h0m0s 2h0m0s 1h0m0s 15m0s 5m0s 1m0s]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := jit.NewReminders(marks, tc.every)
			if got := fmt.Sprint(walk(r, "ses_a", tc.from, 0, tc.step)); got != tc.want {
				t.Fatalf("reminders %s, want %s", got, tc.want)
			}
		})
	}

	r := jit.NewReminders(marks, 30*time.Minute)
	// The first look at a session on a half hour says nothing: the start's
	// notice does.
	if due := r.Due("ses_b", 2*time.Hour); len(due) != 0 {
		t.Fatalf("the first look: %v", due)
	}
	// A suspended laptop wakes 70 minutes later: one reminder, the latest.
	if due := r.Due("ses_b", 50*time.Minute); fmt.Sprint(due) != "[1h0m0s]" {
		t.Fatalf("after a jump: %v", due)
	}
	if got := fmt.Sprint(walk(r, "ses_b", 50*time.Minute, 14*time.Minute, 10*time.Second)); got != "[30m0s 15m0s]" {
		t.Fatalf("down to 14m: %s", got)
	}
	// Extended by an hour at 14m: the half hours count again from there,
	// and the 15m mark comes again before the new end.
	if got := fmt.Sprint(walk(r, "ses_b", 74*time.Minute, 0, 10*time.Second)); got != "[1h0m0s 30m0s 15m0s 5m0s 1m0s]" {
		t.Fatalf("after the extension: %s", got)
	}
	if r.Last(30*time.Minute) || !r.Last(time.Minute) {
		t.Fatal("Last is wrong: the periodic reminders are never the last")
	}
}

func TestMessages(t *testing.T) {
	last := jit.Reminder(time.Minute, true)
	if last.Summary != "JIT elevated access ends in 1 minute" || !strings.Contains(last.Body, "unsaved work in them will be lost") || !last.Urgent {
		t.Fatalf("last reminder = %+v", last)
	}
	if m := jit.Reminder(5*time.Minute, false); m.Summary != "JIT elevated access ends in 5 minutes" || m.Urgent {
		t.Fatalf("reminder = %+v", m)
	}
	if m := jit.Ended("revoked"); !strings.Contains(m.Summary, "(revoked)") || !strings.Contains(m.Body, "an administrator revoked it") {
		t.Fatalf("ended = %+v", m)
	}
	if m := jit.Denied("use the ticket queue"); m.Body != "Reason: use the ticket queue" {
		t.Fatalf("denied = %+v", m)
	}
	for d, want := range map[time.Duration]string{45 * time.Second: "45 seconds", time.Minute: "1 minute", 90 * time.Second: "1m30s", 2 * time.Hour: "2h"} {
		if got := jit.Human(d); got != want {
			t.Errorf("Human(%s) = %q, want %q", d, got, want)
		}
	}
	for d, want := range map[time.Duration]string{29*time.Minute + 41*time.Second: "29:41", time.Hour + 5*time.Minute + 9*time.Second: "1:05:09", -time.Second: "0:00"} {
		if got := jit.Clock(d); got != want {
			t.Errorf("Clock(%s) = %q, want %q", d, got, want)
		}
	}
}

// TestDialogCommandLines: the windows the helper opens where no terminal
// emulator is installed, exactly as they are run (zenity and kdialog are
// not installed here; the lines are what their manuals take).
func TestDialogCommandLines(t *testing.T) {
	z := &jit.Dialog{Tool: "zenity", Path: "/usr/bin/zenity"}
	k := &jit.Dialog{Tool: "kdialog", Path: "/usr/bin/kdialog"}
	for _, tc := range []struct {
		name string
		got  []string
		want string
	}{
		{"zenity entry", z.EntryArgs("Why do you need it? <b>", "30m"),
			"/usr/bin/zenity|--entry|--title=Hoist JIT elevated access|--text=Why do you need it? &lt;b&gt;|--entry-text=30m"},
		{"zenity question", z.QuestionArgs("End JIT elevated access now?", "End now", "Keep it"),
			"/usr/bin/zenity|--question|--title=Hoist JIT elevated access|--text=End JIT elevated access now?|--ok-label=End now|--cancel-label=Keep it"},
		{"zenity error", z.MessageArgs("hoist: a & b", true), "/usr/bin/zenity|--error|--title=Hoist JIT elevated access|--text=hoist: a &amp; b"},
		{"kdialog entry", k.EntryArgs("Why do you need it? <b>", ""), "/usr/bin/kdialog|--title|Hoist JIT elevated access|--inputbox|Why do you need it? <b>|"},
		{"kdialog question", k.QuestionArgs("End now?", "End now", "Keep it"),
			"/usr/bin/kdialog|--title|Hoist JIT elevated access|--yes-label|End now|--no-label|Keep it|--warningyesno|End now?"},
		{"kdialog message", k.MessageArgs("ok", false), "/usr/bin/kdialog|--title|Hoist JIT elevated access|--msgbox|ok"},
	} {
		if got := strings.Join(tc.got, "|"); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
}

// TestLauncherChoosesTerminalThenDialog: the launcher opens a terminal
// emulator when one is installed, asks in windows when none is, and says
// so when neither is.
func TestLauncherChoosesTerminalThenDialog(t *testing.T) {
	helper := []string{"/usr/bin/hoist", "jit"}
	for _, tc := range []struct {
		name      string
		installed []string
		terminal  string
		dialog    string
	}{
		{"Debian's choice first", []string{"xterm", "x-terminal-emulator", "zenity"}, "/bin/x-terminal-emulator|-e|/usr/bin/hoist|jit", ""},
		{"GNOME Terminal", []string{"gnome-terminal", "xterm"}, "/bin/gnome-terminal|--|/usr/bin/hoist|jit", ""},
		{"Konsole", []string{"konsole", "kdialog"}, "/bin/konsole|-e|/usr/bin/hoist|jit", ""},
		{"kitty takes the command as is", []string{"kitty"}, "/bin/kitty|/usr/bin/hoist|jit", ""},
		{"no terminal: zenity", []string{"zenity", "kdialog"}, "", "zenity"},
		{"no terminal: kdialog", []string{"kdialog"}, "", "kdialog"},
		{"nothing", nil, "", ""},
	} {
		look := func(name string) (string, error) {
			for _, n := range tc.installed {
				if n == name {
					return "/bin/" + name, nil
				}
			}
			return "", os.ErrNotExist
		}
		f := jit.ChooseFront(look, helper)
		if got := strings.Join(f.Terminal, "|"); got != tc.terminal {
			t.Errorf("%s: terminal %q, want %q", tc.name, got, tc.terminal)
		}
		got := ""
		if f.Dialog != nil {
			got = f.Dialog.Tool
		}
		if got != tc.dialog {
			t.Errorf("%s: dialog %q, want %q", tc.name, got, tc.dialog)
		}
	}
}

// TestUrgentMessagesAreOverWhenTheirStateIs: the warning of the end is
// over once the session was extended or is gone; a denial once the user
// asked again; a revocation once a new request or session came.
func TestUrgentMessagesAreOverWhenTheirStateIs(t *testing.T) {
	active := func(id string, left int64) localapi.Status {
		return localapi.Status{State: "active", SessionID: id, RemainingSeconds: left}
	}
	ending := jit.Reminder(time.Minute, true)
	for _, tc := range []struct {
		name string
		m    jit.Message
		st   localapi.Status
		over bool
	}{
		{"ending, still", jit.ExportAbout(ending, "ses_a"), active("ses_a", 50), false},
		{"ending, extended", jit.ExportAbout(ending, "ses_a"), active("ses_a", 1800), true},
		{"ending, ended", jit.ExportAbout(ending, "ses_a"), localapi.Status{State: "ended", SessionID: "ses_a"}, true},
		{"denied, still", jit.ExportAbout(jit.Denied("no"), "req_a"), localapi.Status{State: "none", RequestID: "req_a", RequestState: "denied"}, false},
		{"denied, asked again", jit.ExportAbout(jit.Denied("no"), "req_a"), localapi.Status{State: "pending", RequestID: "req_b"}, true},
		{"revoked, still", jit.ExportAbout(jit.Ended("revoked"), "ses_a"), localapi.Status{State: "ended", SessionID: "ses_a"}, false},
		{"revoked, new session", jit.ExportAbout(jit.Ended("revoked"), "ses_a"), active("ses_b", 600), true},
		{"started is never closed", jit.ExportAbout(jit.Started(time.Now(), time.Hour), "ses_a"), localapi.Status{State: "ended"}, false},
	} {
		if got := tc.m.Over(tc.st); got != tc.over {
			t.Errorf("%s: Over = %v, want %v", tc.name, got, tc.over)
		}
	}
}
