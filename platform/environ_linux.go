package platform

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"strconv"
	"sync"
	"time"
)

// envReadLimit is how much of a process's initial environment hoistd reads
// when it looks for a session marker. hoistd builds an elevated program's
// environment from scratch (agent.Environment): HOIST_SESSION is its 7th
// entry, after six short fixed ones and the user name, so it lies within
// the first few hundred bytes. A program that passes its environment on
// keeps it near the start too, unless it was handed tens of kilobytes of
// variables first. Those the sweep misses, as it misses a program that
// dropped the variable: elevated programs are root and can do either, so
// the bound gives up nothing the sweep ever promised. Any process's
// environment can be megabytes, and the sweep reads every process's, so
// without the bound one unprivileged process would make each end slow.
const envReadLimit = 64 << 10

// envReadTimeout is how long one read of /proc/PID/environ may take before
// the process is skipped. Such a read takes the target's memory-map lock,
// which a process blocked in a page fault on a hung FUSE or NFS mount or a
// frozen file system can keep from hoistd indefinitely (any user can set
// that up with a FUSE mount of their own). The read then goes on in its
// goroutine and the process is skipped by later reads until it returns.
const envReadTimeout = 250 * time.Millisecond

// maxStuckReads bounds the reads left blocked in the kernel, each holding
// a thread: past it every read is refused, so a user with many stuck
// processes can make the sweep incomplete (which it reports) but cannot
// exhaust hoistd's threads.
const maxStuckReads = 64

// errEnvironStuck is returned for a process whose environment could not be
// read within envReadTimeout, now or in an earlier read still blocked.
var errEnvironStuck = errors.New("reading the environment blocked")

// stuckReads holds the pids whose environ read is still blocked.
var stuckReads = struct {
	sync.Mutex
	pids map[int]bool
}{pids: map[int]bool{}}

var envBufs = sync.Pool{New: func() any { b := make([]byte, envReadLimit); return &b }}

type environRead struct {
	n        int
	complete bool
	err      error
}

// withEnviron reads at most envReadLimit bytes of pid's initial environment
// and calls use with them; complete is false when the environment goes on
// past what was read. env is valid only during use. It returns
// errEnvironStuck when the read did not finish in time, ctx's error when
// ctx ended first, or the error of the read (a process that is gone).
func withEnviron(ctx context.Context, pid int, use func(env []byte, complete bool)) error {
	stuckReads.Lock()
	refused := stuckReads.pids[pid] || len(stuckReads.pids) >= maxStuckReads
	stuckReads.Unlock()
	if refused {
		return errEnvironStuck
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	buf := envBufs.Get().(*[]byte)
	done := make(chan environRead, 1)
	go func() {
		n, complete, err := readAtMost("/proc/"+strconv.Itoa(pid)+"/environ", *buf)
		done <- environRead{n, complete, err}
	}()
	timer := time.NewTimer(envReadTimeout)
	defer timer.Stop()
	select {
	case r := <-done:
		if r.err == nil {
			use((*buf)[:r.n], r.complete)
		}
		envBufs.Put(buf)
		return r.err
	case <-timer.C:
		abandon(pid, done)
		return errEnvironStuck
	case <-ctx.Done():
		abandon(pid, done)
		return ctx.Err()
	}
}

// abandon leaves a read blocked in the kernel to finish on its own; pid is
// refused until it does. Its buffer is not returned to the pool: the read
// may still write it.
func abandon(pid int, done <-chan environRead) {
	stuckReads.Lock()
	stuckReads.pids[pid] = true
	stuckReads.Unlock()
	go func() {
		<-done
		stuckReads.Lock()
		delete(stuckReads.pids, pid)
		stuckReads.Unlock()
	}()
}

// readAtMost reads path into buf until buf is full or the file ends;
// complete reports that it ended.
func readAtMost(path string, buf []byte) (n int, complete bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false, err
	}
	defer f.Close()
	n, err = io.ReadFull(f, buf)
	switch {
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return n, true, nil
	case err != nil:
		return n, false, err
	}
	// Full: complete only if nothing follows.
	var one [1]byte
	m, _ := f.Read(one[:])
	return n, m == 0, nil
}

// hasEntry reports whether the NUL-separated environment env holds entry
// as a whole entry. complete says env is the whole environment: otherwise
// its last, unterminated entry may be cut short and does not count.
func hasEntry(env []byte, entry string, complete bool) bool {
	for at, end := range entriesWith(env, entry) {
		if end-at == len(entry) && (end < len(env) || complete) {
			return true
		}
	}
	return false
}

// envValue returns the value of the first entry of env that starts with
// key ("NAME="), or "" when there is none or it is cut short.
func envValue(env []byte, key string, complete bool) string {
	for at, end := range entriesWith(env, key) {
		if end == len(env) && !complete {
			return ""
		}
		return string(env[at+len(key) : end])
	}
	return ""
}

// entriesWith yields where each entry of env that starts with prefix
// begins and ends (at its NUL, or at len(env) for an unterminated last
// one). Each byte of env is looked at a bounded number of times, so the
// walk is linear however many entries there are.
func entriesWith(env []byte, prefix string) func(yield func(at, end int) bool) {
	return func(yield func(at, end int) bool) {
		sep := append([]byte{0}, prefix...)
		at := -1
		if bytes.HasPrefix(env, sep[1:]) {
			at = 0
		} else if i := bytes.Index(env, sep); i >= 0 {
			at = i + 1
		}
		for at >= 0 {
			end := len(env)
			if i := bytes.IndexByte(env[at:], 0); i >= 0 {
				end = at + i
			}
			if !yield(at, end) {
				return
			}
			at = -1
			if i := bytes.Index(env[end:], sep); i >= 0 {
				at = end + i + 1
			}
		}
	}
}
