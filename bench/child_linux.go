package main

import (
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
)

// child is a process the harness runs of its own executable (the server
// under test, a share of a fleet), with pipes to its standard input and
// output. Closing the input tells it the harness is done with it.
type child struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout io.ReadCloser
}

// startChild starts the harness's executable with args, in the harness's
// environment less the Go runtime's tuning (a child runs with the defaults
// it sets for itself) plus env, its standard error on the harness's, and
// SIGTERM sent to it if the harness dies first.
func startChild(args []string, env ...string) (child, error) {
	self, err := os.Executable()
	if err != nil {
		return child{}, err
	}
	cmd := exec.Command(self, args...)
	cmd.Env = append(withoutGoTuning(os.Environ()), env...)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return child{}, err
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return child{}, err
	}
	if err := cmd.Start(); err != nil {
		return child{}, err
	}
	return child{cmd: cmd, stdin: stdin, stdout: stdout}, nil
}

func withoutGoTuning(env []string) []string {
	out := env[:0:0]
	for _, e := range env {
		k, _, _ := strings.Cut(e, "=")
		if k != "GOGC" && k != "GOMEMLIMIT" && k != "GOMAXPROCS" && k != "GODEBUG" {
			out = append(out, e)
		}
	}
	return out
}
