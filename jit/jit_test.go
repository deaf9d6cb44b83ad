package jit_test

import (
	"strings"
	"testing"
	"time"

	"github.com/hoist-jit/hoist/jit"
)

func TestRemindersFireOnceEachInOrder(t *testing.T) {
	r := jit.NewReminders([]time.Duration{time.Minute, 15 * time.Minute, 5 * time.Minute})
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
	r := jit.NewReminders([]time.Duration{15 * time.Minute, 5 * time.Minute, time.Minute})
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
