package snapshot

import (
	"strings"
	"testing"
)

func TestParseStallingMounts(t *testing.T) {
	table := `22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
31 22 0:40 / /home/alice rw,nosuid,nodev shared:20 - fuse.sshfs alice@host: rw,user_id=1000
32 22 0:41 / /mnt/nfs rw master:3 - nfs4 server:/export rw,vers=4.2
33 22 0:42 / /home/with\040space rw - fuse /dev/fuse rw
34 22 0:43 / /tmp rw - tmpfs tmpfs rw
35 22 0:44 / /bad
36 22 0:45 / /odd rw - 
`
	got := parseStallingMounts(strings.NewReader(table), DefaultStallingFileSystems)
	want := []mount{{"/home/alice", "fuse.sshfs"}, {"/mnt/nfs", "nfs4"}, {"/home/with space", "fuse"}}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("mount %d = %v, want %v", i, got[i], want[i])
		}
	}
	for p, wantOn := range map[string]bool{
		"/home/alice": true, "/home/alice/.ssh": true, "/home/alicebob": false,
		"/mnt/nfs/x": true, "/home/with space": true, "/tmp/x": false, "/": false,
	} {
		if _, on := onStallingMount(p, got); on != wantOn {
			t.Errorf("onStallingMount(%q) = %v, want %v", p, on, wantOn)
		}
	}
}
