package platform_test

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hoist-jit/hoist/testenv"
)

// TestMain lets the test binary be the helper programs the tests start.
func TestMain(m *testing.M) {
	if os.Getenv("HOIST_PLATFORM_HELPER") == "blocked-fault" {
		blockedFault(os.Args[1])
		return
	}
	os.Exit(m.Run())
}

// blockedFault is a process no reader of its /proc/PID/environ can get
// past: one thread blocks in a page fault on a frozen file system, another
// in munmap of that mapping, waiting for the fault while it holds the
// memory-map lock that such a read takes. Any user can do the same with a
// FUSE mount whose server does not answer. It maps path, prints "mapped",
// waits for a line on stdin (the file system is frozen meanwhile), faults,
// prints "faulting" and unmaps.
func blockedFault(path string) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		panic(err)
	}
	mem, err := syscall.Mmap(int(f.Fd()), 0, 4096, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		panic(err)
	}
	mem[0] = 1 // dirty now; the freeze writes it back and write-protects it
	fmt.Println("mapped")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	tids := make(chan int)
	go func() {
		runtime.LockOSThread()
		tids <- syscall.Gettid()
		mem[0] = 2 // blocks in the fault: the file system is frozen
	}()
	tid := <-tids
	for threadState(os.Getpid(), tid) != "D" {
		time.Sleep(time.Millisecond)
	}
	fmt.Println("faulting")
	_ = syscall.Munmap(mem)
}

// threadState is the state letter of thread tid of pid, or "".
func threadState(pid, tid int) string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/stat", pid, tid))
	if err != nil {
		return ""
	}
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 || i+3 > len(data) {
		return ""
	}
	return string(data[i+2 : i+3])
}

// threadsIn counts pid's threads in state.
func threadsIn(pid int, state string) int {
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	n := 0
	for _, task := range tasks {
		if tid, err := strconv.Atoi(task.Name()); err == nil && threadState(pid, tid) == state {
			n++
		}
	}
	return n
}

// freezableFS is a small ext4 file system on a loop device of its own.
// Freezing it (fsfreeze, as for a snapshot) makes every write to it block
// in uninterruptible sleep ("D"), from which not even SIGKILL wakes a
// process: the state a hung NFS or FUSE mount leaves processes in.
type freezableFS struct {
	Dir    string
	dev    string
	frozen bool
}

// newFreezableFS makes, mounts and (at cleanup) thaws, unmounts and
// detaches one. Create it after the groups the test ends, so that its
// cleanup, which runs first, thaws what theirs must kill.
func newFreezableFS(t *testing.T) *freezableFS {
	t.Helper()
	testenv.RequireRoot(t)
	for _, tool := range []string{"mkfs.ext4", "losetup", "fsfreeze", "mount", "umount"} {
		_, err := exec.LookPath(tool)
		testenv.Require(t, err == nil, "needs "+tool+" (e2fsprogs, util-linux)")
	}
	tmp := testenv.PublicDir(t) // non-root helpers reach the mount through it
	img, dir := filepath.Join(tmp, "fs.img"), filepath.Join(tmp, "mnt")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	run(t, "truncate", "-s", "16M", img)
	run(t, "mkfs.ext4", "-q", "-F", img)
	out, err := exec.Command("losetup", "--find", "--show", img).CombinedOutput()
	testenv.Require(t, err == nil, fmt.Sprintf("needs a free loop device: %v: %s", err, out))
	fs := &freezableFS{Dir: dir, dev: strings.TrimSpace(string(out))}
	t.Cleanup(func() {
		fs.ThawIfFrozen()
		// Lazily: processes still on it die once the other cleanups run.
		_ = exec.Command("umount", "-l", dir).Run()
		_ = exec.Command("losetup", "-d", fs.dev).Run()
	})
	run(t, "mount", fs.dev, dir)
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	return fs
}

// Freeze freezes the file system: writes to it block from now on.
func (fs *freezableFS) Freeze(t *testing.T) {
	t.Helper()
	run(t, "fsfreeze", "-f", fs.Dir)
	fs.frozen = true
}

// Thaw lets the blocked writes go on.
func (fs *freezableFS) Thaw(t *testing.T) {
	t.Helper()
	run(t, "fsfreeze", "-u", fs.Dir)
	fs.frozen = false
}

// ThawIfFrozen is for cleanups that must wait for a process on the file
// system to die: they thaw it first.
func (fs *freezableFS) ThawIfFrozen() {
	if fs.frozen {
		_ = exec.Command("fsfreeze", "-u", fs.Dir).Run()
		fs.frozen = false
	}
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v: %s", name, args, err, out)
	}
}

// procState is the state letter of pid's main thread, or "" if it is gone.
func procState(pid int) string { return threadState(pid, pid) }

// readLine reads one line from r, failing t if none comes in 30 s.
func readLine(t *testing.T, r *os.File, br *bufio.Reader) string {
	t.Helper()
	_ = r.SetReadDeadline(time.Now().Add(30 * time.Second))
	line, err := br.ReadString('\n')
	if err != nil && err != io.EOF {
		t.Fatalf("reading the program's output: %v (so far %q)", err, line)
	}
	return strings.TrimSpace(line)
}
