package wire

import "github.com/hoist-jit/hoist"

// PolicySaved is the answer to creating or replacing a policy: the policy
// as stored, with the policy linter's warnings about it (never null). The
// linter's refusals refuse the change instead (400, the fields named).
type PolicySaved struct {
	hoist.Policy
	Warnings []hoist.LintFinding `json:"warnings"`
}
