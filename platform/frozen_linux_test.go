package platform_test

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
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
