package platform

import (
	"encoding/binary"
	"slices"
	"testing"
)

// bpfRecord lays out a record as bpf/exec.bpf.c writes it; the lengths in
// its header are given apart, so a test can make them lie.
func bpfRecord(kind, filenameLen, argsLen uint32, data string) []byte {
	b := make([]byte, bpfEventHeader, bpfEventHeader+len(data))
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], kind)
	ne.PutUint32(b[4:], 42)
	ne.PutUint32(b[8:], 1)
	ne.PutUint64(b[16:], 7)
	ne.PutUint32(b[32:], 3<<8)
	ne.PutUint32(b[36:], filenameLen)
	ne.PutUint32(b[40:], argsLen)
	return append(b, data...)
}

// TestDecodeBPFEvent: a record is read by the lengths its header gives, and
// one whose lengths do not fit what arrived is refused, not read past.
func TestDecodeBPFEvent(t *testing.T) {
	args := "/bin/echo\x00hi\x00"
	ev, tag, ok := decodeBPFEvent(bpfRecord(bpfKindExec, 8, uint32(len(args)), "/bin/sh"+"x"+args))
	if !ok || tag != 7 || ev.Pid != 42 || ev.Ppid != 1 || ev.Path != "/bin/shx" || !slices.Equal(ev.Argv, []string{"/bin/echo", "hi"}) || ev.Exit {
		t.Errorf("exec record: ok %v tag %d %+v", ok, tag, ev)
	}
	if ev, _, ok := decodeBPFEvent(bpfRecord(bpfKindExit, 0, 0, "")); !ok || !ev.Exit || ExitCode(ev.ExitStatus) != 3 {
		t.Errorf("exit record: ok %v %+v", ok, ev)
	}
	for _, tc := range []struct {
		name string
		rec  []byte
	}{
		{"short header", bpfRecord(bpfKindExit, 0, 0, "")[:bpfEventHeader-1]},
		{"lengths past the record", bpfRecord(bpfKindExec, 4, 100, "/bin/true")},
		{"filename over its bound", bpfRecord(bpfKindExec, 256, 0, string(make([]byte, 256)))},
		{"arguments over their bound", bpfRecord(bpfKindExec, 0, MaxExecArgBytes+1, string(make([]byte, MaxExecArgBytes+1)))},
		{"lengths that wrap", bpfRecord(bpfKindExec, 0xffffffff, 2, "ab")},
		{"unknown kind", bpfRecord(9, 0, 0, "")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if ev, _, ok := decodeBPFEvent(tc.rec); ok {
				t.Errorf("accepted: %+v", ev)
			}
		})
	}
}
