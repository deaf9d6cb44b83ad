package control

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/hoist-jit/hoist"
)

// Identities and approver scopes: who an account is on the machines (its
// own name and its Unix names) and which computer groups it decides for.
// Every rule reads the account in the deciding transaction, so that a
// change of an account's lists holds for logins made before it.

// accountOf returns the stored account a acts for, read in tx. An actor
// built by the server itself rather than by a login (tests, in-process
// tools) may have no stored account; it keeps the rules of before: its own
// name is its one identity, and it decides for every group.
func accountOf(ctx context.Context, tx hoist.Tx, a Actor) (hoist.Admin, error) {
	var (
		adm hoist.Admin
		err error
	)
	if a.ID != "" {
		adm, err = tx.Admin(ctx, a.ID)
	} else {
		adm, err = tx.AdminByName(ctx, a.Name)
	}
	if hoist.ErrorCode(err) == hoist.ENotFound && a.ID == "" {
		return hoist.Admin{Name: a.Name, Role: a.Role}, nil
	}
	if hoist.ErrorCode(err) == hoist.ENotFound {
		// A login whose account is gone: DeleteAdmin ends its tokens, so
		// this is a race with a delete. Refuse.
		return adm, hoist.Errorf(hoist.EForbidden, "the account %s no longer exists", a.Name)
	}
	return adm, err
}

// groupCache answers which computer groups an agent is in, reading the
// groups once per transaction.
type groupCache struct {
	groups []hoist.ComputerGroup
	read   bool
	agents map[string][]string
}

// of returns the names of the groups agent id is in; none for a request or
// session made without an agent, and none for an agent that is gone.
func (c *groupCache) of(ctx context.Context, tx hoist.Tx, id string) ([]string, error) {
	if id == "" {
		return nil, nil
	}
	if names, ok := c.agents[id]; ok {
		return names, nil
	}
	if !c.read {
		gs, err := tx.Groups(ctx)
		if err != nil {
			return nil, err
		}
		c.groups, c.read, c.agents = gs, true, map[string][]string{}
	}
	rec, err := tx.AgentByID(ctx, id)
	if hoist.ErrorCode(err) == hoist.ENotFound {
		c.agents[id] = nil
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, g := range hoist.GroupsOf(rec, c.groups) {
		names = append(names, g.Name)
	}
	c.agents[id] = names
	return names, nil
}

// inScope keeps the first limit of items whose machine (where gives its
// agent and host) adm may act for, in order: the lists a scoped approver
// sees.
func inScope[T any](ctx context.Context, tx hoist.Tx, adm hoist.Admin, items []T, limit int, where func(T) (agent, host string)) ([]T, error) {
	gc := &groupCache{}
	kept := items[:0]
	for _, it := range items {
		agent, host := where(it)
		if err := checkScope(ctx, tx, gc, adm, agent, host, ""); hoist.ErrorCode(err) == hoist.EForbidden {
			continue
		} else if err != nil {
			return nil, err
		}
		if kept = append(kept, it); len(kept) == limit {
			break
		}
	}
	return kept, nil
}

// checkScope refuses, with EForbidden, acting as adm for the machine of
// agent (on host): adm's approver groups must include one of its groups.
func checkScope(ctx context.Context, tx hoist.Tx, gc *groupCache, adm hoist.Admin, agent, host, verb string) error {
	if !adm.Scoped() {
		return nil
	}
	in, err := gc.of(ctx, tx, agent)
	if err != nil {
		return err
	}
	if adm.Covers(in) {
		return nil
	}
	where := "is in no computer group"
	if len(in) > 0 {
		where = "is in " + quoteList(in)
	}
	return hoist.Errorf(hoist.EForbidden, "%s may %s only for machines in %s; %s %s",
		adm.Name, verb, quoteList(adm.ApproverGroups), host, where)
}

// checkNotOwn refuses, with EForbidden, an approval by adm of a request of
// one of adm's own identities.
func checkNotOwn(adm hoist.Admin, r hoist.Request) error {
	if adm.Owns(r.User) {
		return hoist.Errorf(hoist.EForbidden, "%s cannot approve their own request: Unix user %s is one of the account's identities", adm.Name, r.User)
	}
	return nil
}

// mayDecide is the identity and scope check of one decision on r, in the
// deciding transaction.
func mayDecide(ctx context.Context, tx hoist.Tx, a Actor, r hoist.Request, approving bool) error {
	adm, err := accountOf(ctx, tx, a)
	if err != nil {
		return err
	}
	if approving {
		if err := checkNotOwn(adm, r); err != nil {
			return err
		}
	}
	verb := "deny"
	if approving {
		verb = "approve"
	}
	return checkScope(ctx, tx, &groupCache{}, adm, r.Agent, r.Host, verb)
}

// checkIdentities checks adm's Unix names and approver groups against the
// store, inside the transaction that writes adm and after its audit
// append (which serializes writers, see UpdateAdmin): every group must
// exist, and no other account may list one of the Unix names.
func checkIdentities(ctx context.Context, tx hoist.Tx, adm hoist.Admin) error {
	for _, g := range adm.ApproverGroups {
		if _, err := tx.Group(ctx, g); hoist.ErrorCode(err) == hoist.ENotFound {
			return &hoist.Error{Code: hoist.EInvalid, Message: fmt.Sprintf("unknown computer group %q", g),
				Fields: map[string]string{"approver_groups": fmt.Sprintf("no computer group named %q", g)}}
		} else if err != nil {
			return err
		}
	}
	if len(adm.UnixNames) == 0 {
		return nil
	}
	others, err := tx.Admins(ctx)
	if err != nil {
		return err
	}
	for _, o := range others {
		if o.ID == adm.ID {
			continue
		}
		for _, n := range adm.UnixNames {
			if slices.Contains(o.UnixNames, n) {
				return &hoist.Error{Code: hoist.EConflict, Message: fmt.Sprintf("Unix user %s already belongs to account %s; remove it there first", n, o.Name),
					Fields: map[string]string{"unix_names": fmt.Sprintf("%s belongs to account %s", n, o.Name)}}
			}
		}
	}
	return nil
}

// accountsScopedTo names the accounts whose approver groups include group.
func accountsScopedTo(ctx context.Context, tx hoist.Tx, group string) ([]string, error) {
	as, err := tx.Admins(ctx)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, a := range as {
		if slices.Contains(a.ApproverGroups, group) {
			names = append(names, a.Name)
		}
	}
	return names, nil
}

// RequesterAccounts maps each machine user of users to the console account
// that is theirs: the account that lists the name among its Unix names,
// else the account of the same name. Users with no account are left out.
func (s *Service) RequesterAccounts(ctx context.Context, a Actor, users []string) (map[string]string, error) {
	if err := a.require(hoist.PermitReadRequests); err != nil {
		return nil, err
	}
	var as []hoist.Admin
	if err := s.store.View(ctx, func(tx hoist.Tx) (err error) { as, err = tx.Admins(ctx); return err }); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, u := range users {
		if name := requesterAccount(as, u); name != "" {
			out[u] = name
		}
	}
	return out, nil
}

func requesterAccount(as []hoist.Admin, user string) string {
	byName := ""
	for _, a := range as {
		for _, n := range a.UnixNames {
			if hoist.SameUser(n, user) {
				return a.Name
			}
		}
		if hoist.SameUser(a.Name, user) {
			byName = a.Name
		}
	}
	return byName
}

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}
