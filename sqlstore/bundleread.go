package sqlstore

import (
	"context"

	"github.com/hoist-jit/hoist"
)

// A check-in builds the agent's bundle from the computer groups, the
// policies and the emergency codes: three statements, each a round trip to
// PostgreSQL, which on a loaded machine is a wake-up of another process
// each (BENCHMARKS.md, "PostgreSQL: what the profile showed"). Where the
// transaction can take the three as one read, Groups reads all three in one
// statement and Policies, Policy and EmergencyCodes answer from it.

// bundleRead holds the rows of the three tables as one statement read them.
type bundleRead struct {
	policies, codes []string
}

// prefetches reports whether this transaction may answer Policies and
// EmergencyCodes from the statement that Groups ran: a read-only one (one
// snapshot: the same rows either way), or one that declared it relies on no
// lock to see later commits of other writers (it relaxed durability, as a
// check-in does, or seals after commit, as decisions do). Any write of the
// transaction drops what was read (see exec).
func (t *tx) prefetches() bool { return t.readOnly || t.relaxed || t.deferSeal }

// groupsAndRest reads the groups, and keeps the policies and emergency
// codes for Policies and EmergencyCodes, in one statement with each table's
// own order.
func (t *tx) groupsAndRest(ctx context.Context) ([]hoist.ComputerGroup, error) {
	rows, err := t.query(ctx, "list groups, policies and emergency codes",
		`SELECT k, data FROM (
			SELECT 0 AS k, data, name AS a, '' AS b FROM computer_groups
			UNION ALL SELECT 1, data, name, '' FROM policies
			UNION ALL SELECT 2, data, '', id FROM emergency_codes) x
		ORDER BY k, a, b DESC`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var (
		groups []hoist.ComputerGroup
		read   bundleRead
	)
	for rows.Next() {
		var (
			k    int
			data string
		)
		if err := rows.Scan(&k, &data); err != nil {
			return nil, t.store.storeError("read rows", err)
		}
		switch k {
		case 0:
			var g hoist.ComputerGroup
			if err := decode(data, &g); err != nil {
				return nil, err
			}
			groups = append(groups, g)
		case 1:
			read.policies = append(read.policies, data)
		default:
			read.codes = append(read.codes, data)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, t.store.storeError("read rows", err)
	}
	t.bundle = &read
	return groups, nil
}

// policy is Policy's answer from what Groups read: the policy with that id,
// else the one of that name.
func (b *bundleRead) policy(idOrName string) (hoist.Policy, error) {
	ps, err := decodeAll[hoist.Policy](b.policies)
	if err != nil {
		return hoist.Policy{}, err
	}
	byName := -1
	for i, p := range ps {
		if p.ID == idOrName {
			return p, nil
		}
		if p.Name == idOrName && byName < 0 {
			byName = i
		}
	}
	if byName < 0 {
		return hoist.Policy{}, hoist.Errorf(hoist.ENotFound, "no policy %q", idOrName)
	}
	return ps[byName], nil
}

// decodeAll decodes rows of JSON as read; nil for none, as scanJSON.
func decodeAll[T any](rows []string) ([]T, error) {
	var out []T
	for _, data := range rows {
		var v T
		if err := decode(data, &v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}
