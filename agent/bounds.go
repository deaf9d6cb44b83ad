package agent

import (
	"errors"
	"os"

	"github.com/hoist-jit/hoist/localapi"
)

// checkRequest bounds a request before it is dispatched.
func checkRequest(req localapi.Request) error {
	switch req.Op {
	case localapi.OpRun, localapi.OpExplain:
		return checkArgv(req.Argv)
	}
	return nil
}

// checkRunFiles accepts the descriptors a run needs.
func checkRunFiles(files []*os.File, tty bool) error {
	if tty && !isTerminal(files[0]) {
		return errors.New("the terminal passed for this run is not a terminal")
	}
	return nil
}
