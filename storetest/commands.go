package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
)

// testSessionCommands: a session's commands come back in their order with
// their exit status; a second insert of one changes nothing; a search finds
// a program by name or argument, case-insensitively, across sessions,
// newest first, and takes LIKE's wildcards literally.
func testSessionCommands(t *testing.T, s hoist.Store) {
	code := 3
	cmds := []hoist.SessionCommand{
		{Session: "sess_a", N: 1, At: t0, Pid: 10, Ppid: 1, Path: "/bin/sh", Argv: []string{"sh", "-c", "useradd bob"}, Host: "h1", User: "u1"},
		{Session: "sess_a", N: 2, At: t0.Add(time.Second), Pid: 11, Ppid: 10, Path: "/usr/sbin/useradd", Argv: []string{"useradd", "bob"}, Cwd: "/root", Exe: "/usr/sbin/useradd", SHA256: "ab"},
		{Session: "sess_a", N: 3, At: t0.Add(2 * time.Second), Pid: 12, Ppid: 10, Path: "/usr/bin/id", Argv: []string{"id"}, ExitStatus: &code},
		// A second stream of sess_a (hoistd restarted) numbers from 1 again.
		{Session: "sess_a", Stream: "s2", N: 1, At: t0.Add(3 * time.Second), Pid: 30, Ppid: 1, Path: "/usr/bin/who", Argv: []string{"who"}},
		{Session: "sess_b", N: 1, At: t0.Add(time.Hour), Pid: 20, Ppid: 1, Path: "/usr/sbin/UserAdd", Argv: []string{"UserAdd", "100%_x"}},
	}
	update := func(fn func(tx hoist.Tx) error) {
		t.Helper()
		if err := s.Update(ctx(), fn); err != nil {
			t.Fatal(err)
		}
	}
	list := func(f hoist.CommandFilter) []hoist.SessionCommand {
		t.Helper()
		var out []hoist.SessionCommand
		if err := s.View(ctx(), func(tx hoist.Tx) (err error) { out, err = tx.SessionCommands(ctx(), f); return err }); err != nil {
			t.Fatal(err)
		}
		return out
	}
	key := func(cs []hoist.SessionCommand) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.Session+"/"+c.Argv[0])
		}
		return out
	}
	update(func(tx hoist.Tx) error { return tx.InsertSessionCommands(ctx(), cmds) })
	changed := cmds[0]
	changed.Argv = []string{"replaced"}
	update(func(tx hoist.Tx) error { return tx.InsertSessionCommands(ctx(), []hoist.SessionCommand{changed}) })
	update(func(tx hoist.Tx) error { return tx.SetCommandExit(ctx(), "sess_a", "", 2, 0) })
	update(func(tx hoist.Tx) error { return tx.SetCommandExit(ctx(), "sess_a", "", 99, 1) }) // no such command: nothing

	var counted int
	if err := s.View(ctx(), func(tx hoist.Tx) (err error) { counted, err = tx.CountSessionCommands(ctx(), "sess_a"); return err }); err != nil || counted != 4 {
		t.Errorf("CountSessionCommands(sess_a) = %d, %v; want 4", counted, err)
	}
	got := list(hoist.CommandFilter{Session: "sess_a"})
	if k := key(got); !slices.Equal(k, []string{"sess_a/sh", "sess_a/useradd", "sess_a/id", "sess_a/who"}) {
		t.Fatalf("session sess_a: got %v", k)
	}
	if !slices.Equal(got[0].Argv, cmds[0].Argv) || !got[0].At.Equal(t0) || got[0].Host != "h1" || got[0].Pid != 10 {
		t.Errorf("first command: got %+v, want %+v (a second insert changes nothing)", got[0], cmds[0])
	}
	if got[0].ExitStatus != nil || got[1].ExitStatus == nil || *got[1].ExitStatus != 0 || got[2].ExitStatus == nil || *got[2].ExitStatus != 3 {
		t.Errorf("exit statuses: %v %v %v, want none, 0, 3", got[0].ExitStatus, got[1].ExitStatus, got[2].ExitStatus)
	}
	if got[1].Cwd != "/root" || got[1].Exe != "/usr/sbin/useradd" || got[1].SHA256 != "ab" {
		t.Errorf("second command: %+v", got[1])
	}
	for _, tc := range []struct {
		match string
		want  []string
	}{
		{"useradd", []string{"sess_b/UserAdd", "sess_a/useradd", "sess_a/sh"}},
		{"bob", []string{"sess_a/useradd", "sess_a/sh"}},
		{"0%_", []string{"sess_b/UserAdd"}},
		{"%", []string{"sess_b/UserAdd"}},
		{"nothing-like-it", nil},
	} {
		t.Run(tc.match, func(t *testing.T) {
			if got := key(list(hoist.CommandFilter{Match: tc.match})); !slices.Equal(got, tc.want) {
				t.Errorf("search %q: got %v, want %v", tc.match, got, tc.want)
			}
		})
	}
	if got := list(hoist.CommandFilter{Match: "useradd", Limit: 1}); len(got) != 1 {
		t.Errorf("limit 1: got %d", len(got))
	}
}
