package agent

import (
	"github.com/hoist-jit/hoist/localapi"
)

// checkRequest bounds a request before it is dispatched: every field
// within its documented limit, printable where people or logs will see
// it, and only the fields its op takes (localapi.Request.Check).
func checkRequest(req localapi.Request) error {
	if err := req.Check(); err != nil {
		return err
	}
	switch req.Op {
	case localapi.OpRun, localapi.OpExplain:
		return checkArgv(req.Argv) // the exec side's own view: no NUL, a name
	}
	return nil
}
