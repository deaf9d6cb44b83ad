package hoist_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/hoist-jit/hoist"
)

func snap(entries ...[3]string) *hoist.Snapshot {
	s := hoist.NewSnapshot()
	for _, e := range entries {
		s.Add(hoist.ChangeKind(e[0]), e[1], e[2])
	}
	return s
}

func TestDiffSnapshots(t *testing.T) {
	tests := []struct {
		name          string
		before, after *hoist.Snapshot
		want          []hoist.Change
	}{
		{"nothing changed", snap([3]string{"package", "curl", "7.88.1-10"}), snap([3]string{"package", "curl", "7.88.1-10"}), []hoist.Change{}},
		{"both empty", hoist.NewSnapshot(), hoist.NewSnapshot(), []hoist.Change{}},
		{
			"added, removed, changed in report order",
			snap([3]string{"package", "curl", "7.88.1-10"}, [3]string{"package", "wget", "1.21"}, [3]string{"sudoers", "/etc/sudoers", "sha256:aa"}),
			snap([3]string{"package", "curl", "7.88.1-11"}, [3]string{"package", "apt", "2.6"}, [3]string{"sudoers", "/etc/sudoers", "sha256:aa"}, [3]string{"user", "eve", "uid=1001"}),
			[]hoist.Change{
				{Kind: "user", Name: "eve", Change: "added", Detail: "uid=1001"},
				{Kind: "package", Name: "apt", Change: "added", Detail: "2.6"},
				{Kind: "package", Name: "curl", Change: "changed", Detail: "7.88.1-10 → 7.88.1-11"},
				{Kind: "package", Name: "wget", Change: "removed", Detail: "1.21"},
			},
		},
		{
			"the same name under two kinds is two entries",
			snap([3]string{"user", "adm", "uid=3"}),
			snap([3]string{"user", "adm", "uid=3"}, [3]string{"group", "adm", "gid=4"}),
			[]hoist.Change{{Kind: "group", Name: "adm", Change: "added", Detail: "gid=4"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := hoist.DiffSnapshots(tc.before, tc.after, 0)
			if !reflect.DeepEqual(got.Changes, tc.want) || got.Omitted != 0 {
				t.Fatalf("got %+v (omitted %d), want %+v", got.Changes, got.Omitted, tc.want)
			}
		})
	}
}

// TestDiffIsBoundedAndFair: a flood of one kind does not push another out
// of the report, and what is left out is counted.
func TestDiffIsBoundedAndFair(t *testing.T) {
	before, after := hoist.NewSnapshot(), hoist.NewSnapshot()
	for i := range 5000 {
		after.Add(hoist.KindPackage, fmt.Sprintf("pkg-%05d", i), "1.0")
	}
	after.Add(hoist.KindSudoers, "/etc/sudoers.d/zz-evil", "sha256:1")
	after.Add(hoist.KindCron, "/etc/cron.d/zz-evil", "sha256:2")
	got := hoist.DiffSnapshots(before, after, 10)
	if len(got.Changes) != 10 || got.Omitted != 5002-10 {
		t.Fatalf("got %d changes, %d omitted; want 10 and %d", len(got.Changes), got.Omitted, 5002-10)
	}
	if got.Changes[0].Kind != hoist.KindSudoers || got.Changes[1].Kind != hoist.KindCron {
		t.Fatalf("the rare kinds were pushed out or misordered: %+v", got.Changes[:2])
	}
	// The default bound keeps the record within the audit's line.
	long := strings.Repeat("<&>", 130)
	after = hoist.NewSnapshot()
	for i := range 1000 {
		after.Add(hoist.KindFile, fmt.Sprintf("/etc/%s-%d", long, i), long)
	}
	for i := range 40 {
		after.Note("%d %s", i, strings.Repeat("x", 400))
		before.Note("%d %s", i+40, long)
	}
	r := hoist.DiffSnapshots(before, after, 0)
	data, _ := json.Marshal(r.AuditDetail())
	if len(r.Limits) == 0 {
		t.Fatal("the snapshots' limits are not in the report")
	}
	if len(data) > hoist.MaxReportBytes+hoist.MaxReportLimitBytes+1024 || r.Omitted+len(r.Changes) != 1000 || len(r.Changes) == 0 {
		t.Fatalf("report of %d bytes, %d changes, %d omitted", len(data), len(r.Changes), r.Omitted)
	}
}

func TestDiffIsDeterministic(t *testing.T) {
	before, after := hoist.NewSnapshot(), hoist.NewSnapshot()
	for i := range 300 {
		before.Add(hoist.ChangeKinds[i%len(hoist.ChangeKinds)], fmt.Sprint("n", i), "a")
		after.Add(hoist.ChangeKinds[(i+3)%len(hoist.ChangeKinds)], fmt.Sprint("n", i), "b")
	}
	first, _ := json.Marshal(hoist.DiffSnapshots(before, after, 50))
	for range 20 {
		again, _ := json.Marshal(hoist.DiffSnapshots(before, after, 50))
		if string(again) != string(first) {
			t.Fatalf("two diffs of the same snapshots differ:\n%s\n%s", first, again)
		}
	}
}

// TestSnapshotValuesAreBounded: a long value keeps a hash of the whole, so
// that a change past the cut is still a change.
func TestSnapshotValuesAreBounded(t *testing.T) {
	a := snap([3]string{"group", "big", strings.Repeat("m,", 500) + "alice"})
	b := snap([3]string{"group", "big", strings.Repeat("m,", 500) + "mallory"})
	va, _ := a.Get("group", "big")
	if len(va) > hoist.MaxSnapshotValue {
		t.Fatalf("value of %d bytes kept", len(va))
	}
	if got := hoist.DiffSnapshots(a, b, 0); len(got.Changes) != 1 || got.Changes[0].Change != hoist.ChangeChanged {
		t.Fatalf("a change past the cut was not seen: %+v", got)
	}
	c := snap([3]string{"file", "/etc/\x1b[31mred\n", "x"})
	for _, ch := range hoist.DiffSnapshots(hoist.NewSnapshot(), c, 0).Changes {
		if strings.ContainsAny(ch.Name, "\x1b\n") {
			t.Fatalf("a control character reached the report: %q", ch.Name)
		}
	}
}

func TestSnapshotJSONRoundTrip(t *testing.T) {
	s := snap([3]string{"package", "curl", "7.88"}, [3]string{"unit", "/etc/systemd/system/x.service", "sha256:1"})
	s.Note("too many files in %s", "/usr/bin")
	data, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	back := hoist.NewSnapshot()
	if err := json.Unmarshal(data, back); err != nil {
		t.Fatal(err)
	}
	if d := hoist.DiffSnapshots(s, back, 0); len(d.Changes) != 0 || back.Len() != 2 || len(back.Limits()) != 1 {
		t.Fatalf("round trip lost something: %s → %+v", data, d)
	}
}

func TestChangeReportConfig(t *testing.T) {
	off := false
	if (hoist.AgentConfig{}).ChangeReportOn() != true || (hoist.AgentConfig{ChangeReport: &off}).ChangeReportOn() {
		t.Fatal("change_report: on unless a group turns it off")
	}
	if got := (hoist.AgentConfig{}).ChangeReportPaths(); !reflect.DeepEqual(got, hoist.DefaultChangeReportFiles) {
		t.Fatalf("default paths = %v", got)
	}
	g := hoist.ComputerGroup{Name: "web", Config: hoist.AgentConfig{ChangeReportFiles: []string{"/etc/ok.conf", "/etc/../root/.bashrc"}}}
	err := g.Validate()
	if err == nil || !strings.Contains(hoist.ErrorMessage(err)+fmt.Sprint(err), "change_report_files") {
		t.Fatalf("a path out of /etc: %v, want an error naming config.change_report_files", err)
	}
	for _, bad := range []string{"/etc", "/etc/", "etc/x", "/etc/a/../b", "/var/x", "/etc/x\n"} {
		if hoist.CheckChangeReportFile(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if got := (hoist.AgentConfig{ChangeReportFiles: []string{"/etc/a", "/tmp/b", "/etc/a"}}).ChangeReportPaths(); !reflect.DeepEqual(got, []string{"/etc/a"}) {
		t.Fatalf("paths = %v", got)
	}
}
