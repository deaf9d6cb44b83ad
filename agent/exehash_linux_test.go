package agent

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/hoist-jit/hoist/testenv"
)

// A file whose open never returns — here a FIFO nobody writes to, which
// blocks open(2) in the kernel just as a FUSE daemon that stopped answering
// or a hung NFS server does — must cost the exec log's loop at most the
// hasher's wait, and only once: while the stuck worker waits, no further
// hash is tried, so no second goroutine piles up behind it. When the file
// answers again, hashing resumes.
func TestExeHashNeverStallsTheLoop(t *testing.T) {
	dir := t.TempDir()
	stuck := filepath.Join(dir, "stuck")
	if err := syscall.Mkfifo(stuck, 0o600); err != nil {
		t.Fatal(err)
	}
	prog := filepath.Join(dir, "prog")
	body := []byte("#!/bin/sh\necho hi\n")
	if err := os.WriteFile(prog, body, 0o755); err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256(body)

	h := newExeHasher(50 * time.Millisecond)
	start := time.Now()
	if s := h.sum(stuck); s != "" {
		t.Fatalf("a file that never opens hashed to %q", s)
	}
	// The bound is the wait plus scheduling; generous for a loaded machine,
	// and far below "forever", which is what is being ruled out.
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("the stuck file held the loop %v", d)
	}
	// While the worker is stuck, other executables go unhashed at once.
	for range 100 {
		if s := h.sum(prog); s != "" {
			t.Fatalf("hashed %q while the worker was stuck on another file", s)
		}
	}
	if n := h.skipped.Load(); n != 101 {
		t.Fatalf("skipped = %d, want 101 (the stuck one and the hundred behind it)", n)
	}

	// The file answers: a writer appears and goes, the open returns, the
	// read sees end of file (a FIFO is not a regular file: no hash).
	w, err := os.OpenFile(stuck, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	testenv.WaitUntil(t, "the worker to come back", func() bool { return !h.busy.Load() })
	if s := h.sum(prog); s != hex.EncodeToString(want[:]) {
		t.Fatalf("after recovery: sum = %q, want %x", s, want)
	}
}

// The cache keys on the file itself (device, inode, size, mtime, ctime): a
// program rewritten in place with the same size and its mtime set back is
// hashed again, not served the old program's hash.
func TestExeHashCacheSeesARewriteWithTheOldMtime(t *testing.T) {
	prog := filepath.Join(t.TempDir(), "prog")
	first, second := []byte("#!/bin/sh\necho one\n"), []byte("#!/bin/sh\necho two\n")
	if err := os.WriteFile(prog, first, 0o755); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(prog)
	if err != nil {
		t.Fatal(err)
	}
	h := newExeHasher(time.Minute)
	a := sha256.Sum256(first)
	if s := h.sum(prog); s != hex.EncodeToString(a[:]) {
		t.Fatalf("first sum = %q", s)
	}
	// Same size, same path, mtime put back: only ctime tells.
	testenv.WaitUntil(t, "the clock to move past the first write's ctime", func() bool {
		return time.Now().After(fi.ModTime().Add(10 * time.Millisecond))
	})
	if err := os.WriteFile(prog, second, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(prog, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	b := sha256.Sum256(second)
	if s := h.sum(prog); s != hex.EncodeToString(b[:]) {
		t.Fatalf("after a rewrite with the old mtime: sum = %q, want the new program's %x", s, b)
	}
}
