package hoist

import (
	"fmt"
	"slices"
	"time"
)

// Role is what an admin account may do. Each role's permits are fixed here,
// in one place.
type Role string

const (
	RoleAdmin    Role = "admin"    // everything
	RoleApprover Role = "approver" // decide requests, revoke sessions, read requests and sessions
	RoleAuditor  Role = "auditor"  // read everything, change nothing
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool {
	switch r {
	case RoleAdmin, RoleApprover, RoleAuditor:
		return true
	}
	return false
}

// Permit is one thing an admin account may be allowed to do.
type Permit string

const (
	PermitReadRequests Permit = "read_requests" // requests and sessions
	PermitDecide       Permit = "decide"        // approve, deny, revoke
	PermitReadAudit    Permit = "read_audit"
	PermitManageUsers  Permit = "manage_users"
	PermitManageAgents Permit = "manage_agents" // enrolment tokens, agent revokes
	// PermitManagePolicies covers policies, computer groups and agent
	// configuration.
	PermitManagePolicies Permit = "manage_policies"
	// PermitManageIntegrations covers the sinks events leave through.
	PermitManageIntegrations Permit = "manage_integrations"
)

// Can reports whether role holds permit. Access control is this pure
// function; the API asks it before anything else.
func Can(role Role, p Permit) bool {
	switch role {
	case RoleAdmin:
		return true
	case RoleApprover:
		return p == PermitReadRequests || p == PermitDecide
	case RoleAuditor:
		return p == PermitReadRequests || p == PermitReadAudit
	}
	return false
}

// Admin is an account of the console and the admin API.
type Admin struct {
	ID           string    `json:"id"`
	Name         string    `json:"name"`
	Role         Role      `json:"role"`
	PasswordHash string    `json:"-"`
	CreatedAt    time.Time `json:"created_at"`
	Disabled     bool      `json:"disabled"`
	// FailedLogins counts consecutive failed logins; LastFailedLogin is the
	// time of the latest. Together they slow down password guessing.
	FailedLogins    int       `json:"-"`
	LastFailedLogin time.Time `json:"-"`
	// UnixNames are the machine (Unix) accounts that belong to the person
	// of this account. The account's own name counts as one too, always:
	// the old rule by name is the floor. A Unix name is listed by at most
	// one account. Nobody may approve a request of one of their own
	// identities.
	UnixNames []string `json:"unix_names"`
	// ApproverGroups are the computer groups whose machines' requests the
	// account may see and decide, and whose sessions it may revoke; empty
	// means every group.
	ApproverGroups []string `json:"approver_groups"`
}

// MaxUnixNames and MaxApproverGroups bound an account's lists.
const (
	MaxUnixNames      = 32
	MaxApproverGroups = 32
)

// Owns reports whether the machine user is one of a's identities: its own
// name or one of its UnixNames, compared as SameUser compares, without
// regard to case (fail closed: a machine that allows "RT1" must not make it
// someone else).
func (a Admin) Owns(user string) bool {
	if SameUser(a.Name, user) {
		return true
	}
	for _, n := range a.UnixNames {
		if SameUser(n, user) {
			return true
		}
	}
	return false
}

// Scoped reports whether a may decide only for some computer groups.
func (a Admin) Scoped() bool { return len(a.ApproverGroups) > 0 }

// Covers reports whether a may decide for a machine in the computer groups
// named: always when a is not scoped, else when one of them is one of a's
// ApproverGroups. A machine in no known group is covered only by an
// unscoped account.
func (a Admin) Covers(groups []string) bool {
	if !a.Scoped() {
		return true
	}
	for _, g := range groups {
		if slices.Contains(a.ApproverGroups, g) {
			return true
		}
	}
	return false
}

// CleanIdentities validates an account's Unix names and approver groups and
// returns them sorted, without duplicates, and never nil. It fails with
// EInvalid naming the field (unix_names, approver_groups). Whether the
// groups exist and whether another account lists a name is for the caller,
// which sees the store.
func CleanIdentities(unixNames, groups []string) ([]string, []string, error) {
	f := FieldErrors{}
	if len(unixNames) > MaxUnixNames {
		f["unix_names"] = fmt.Sprintf("at most %d names", MaxUnixNames)
	}
	for _, n := range unixNames {
		if !validUnixName(n) {
			f["unix_names"] = fmt.Sprintf("%q is not a Unix user name (1-32 of a-z 0-9 _ . -, starting with a letter or _)", n)
		}
	}
	if len(groups) > MaxApproverGroups {
		f["approver_groups"] = fmt.Sprintf("at most %d groups", MaxApproverGroups)
	}
	for _, g := range groups {
		if !validObjectName(g) {
			f["approver_groups"] = fmt.Sprintf("%q is not a computer group name", g)
		}
	}
	if err := f.err("the account"); err != nil {
		return nil, nil, err
	}
	return sortedSet(unixNames), sortedSet(groups), nil
}

func sortedSet(in []string) []string {
	out := append([]string{}, in...)
	slices.Sort(out)
	return slices.Compact(out)
}

// CheckAdminName returns an EInvalid error unless name is a valid account name:
// 1 to 64 lowercase letters, digits and _ . @ -, starting with a letter or _.
// (A loop, not a regular expression: compiling {0,63} at start-up cost every
// hoist command a millisecond.)
func CheckAdminName(name string) error {
	ok := len(name) >= 1 && len(name) <= 64
	for i := 0; ok && i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c == '_':
		case i > 0 && (c >= '0' && c <= '9' || c == '.' || c == '@' || c == '-'):
		default:
			ok = false
		}
	}
	if !ok {
		return Errorf(EInvalid, "user name %q is invalid: use 1-64 of a-z 0-9 _ . @ -, starting with a letter or _", name)
	}
	return nil
}

// CheckPassword returns an EInvalid error for a password too weak to keep.
func CheckPassword(pw string) error {
	if len(pw) < 12 {
		return Errorf(EInvalid, "password must be at least 12 characters")
	}
	if len(pw) > 1024 {
		return Errorf(EInvalid, "password must be at most 1024 bytes")
	}
	return nil
}

// LoginDelay is how long an account must rest after failures failed logins,
// the last at last: nothing for the first five, then doubling from one
// second up to fifteen minutes. It returns how long is left at now.
func LoginDelay(failures int, last, now time.Time) time.Duration {
	return backoff(5, failures, last, now)
}

// SourceLoginDelay is LoginDelay for one source address over all accounts,
// which stops a guesser that tries one password on many accounts: twenty
// failures are free (a busy office behind one address mistypes too), then
// the wait doubles from one second up to fifteen minutes.
func SourceLoginDelay(failures int, last, now time.Time) time.Duration {
	return backoff(20, failures, last, now)
}

// backoff is nothing for the first free failures, then a doubling wait from
// one second up to fifteen minutes after the last; it returns what is left
// of it at now.
func backoff(free, failures int, last, now time.Time) time.Duration {
	const maxDelay = 15 * time.Minute
	if failures < free {
		return 0
	}
	d := time.Second
	for i := free; i < failures && d < maxDelay; i++ {
		d *= 2
	}
	d = min(d, maxDelay)
	if left := last.Add(d).Sub(now); left > 0 {
		return left
	}
	return 0
}

// Token is a revocable login token. Only its SHA-256 is stored; the token
// itself is shown once, to the one who logged in.
type Token struct {
	Hash      string    `json:"-"`
	AdminID   string    `json:"admin_id"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}
