package agent

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// exeHashWait is how long the exec log's loop waits for one executable's
// hash. The loop drains the kernel's ring buffer: while it waits, later
// execs queue there, and once the buffer is full they are dropped
// unrecorded. A hash that takes longer is finished in the background (and
// cached for the program's next exec), and the record that asked goes
// without one.
const exeHashWait = 100 * time.Millisecond

// exeHasher hashes executables for the exec record, once per file, off the
// exec log's loop. Its reason to exist is a file whose reads never return:
// an executable on a FUSE mount whose daemon stops answering (a session is
// root and may mount one), or on a hung NFS server. Opening, stat-ing and
// reading such a file blocks in the kernel, where no timeout reaches; so
// one worker at a time does it, the loop waits for it at most wait, and
// while that worker is still stuck no other hash is tried: at most one
// goroutine is ever blocked on a file, and the loop never is.
type exeHasher struct {
	wait time.Duration
	// busy is set while a worker runs; a hash asked for meanwhile is
	// skipped rather than queued behind a file that may never answer.
	busy atomic.Bool

	mu   sync.Mutex
	sums map[exeIdentity]string
	// skipped counts the hashes given up (timed out or skipped while the
	// worker was busy), for the tests and the log.
	skipped atomic.Int64
}

// maxHashCache bounds the cache; when full it starts again empty.
const maxHashCache = 4096

func newExeHasher(wait time.Duration) *exeHasher {
	return &exeHasher{wait: wait, sums: map[exeIdentity]string{}}
}

// sum is the SHA-256 of the file at link (a /proc/PID/exe link, which
// opens the very file the process runs); "" when it is too large, cannot
// be read, or does not answer within the hasher's wait.
func (h *exeHasher) sum(link string) string {
	if !h.busy.CompareAndSwap(false, true) {
		h.skipped.Add(1)
		return ""
	}
	done := make(chan string, 1)
	go func() {
		defer h.busy.Store(false)
		done <- h.hash(link)
	}()
	t := time.NewTimer(h.wait)
	defer t.Stop()
	select {
	case s := <-done:
		return s
	case <-t.C:
		h.skipped.Add(1)
		return ""
	}
}

// hash opens link, and hashes the file unless its identity is cached.
func (h *exeHasher) hash(link string) string {
	f, err := os.Open(link)
	if err != nil {
		return ""
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || fi.Size() > maxHashBytes {
		return ""
	}
	id := identityOf(fi)
	h.mu.Lock()
	s, ok := h.sums[id]
	h.mu.Unlock()
	if ok {
		return s
	}
	d := sha256.New()
	if _, err := io.Copy(d, io.LimitReader(f, maxHashBytes)); err != nil {
		return ""
	}
	s = hex.EncodeToString(d.Sum(nil))
	h.mu.Lock()
	if len(h.sums) >= maxHashCache {
		clear(h.sums)
	}
	h.sums[id] = s
	h.mu.Unlock()
	return s
}
