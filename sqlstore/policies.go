package sqlstore

import (
	"context"

	"github.com/hoist-jit/hoist"
)

func (t *tx) InsertPolicy(ctx context.Context, p hoist.Policy) error {
	data, err := encode(p)
	if err != nil {
		return err
	}
	_, err = t.exec(ctx, "insert policy", `INSERT INTO policies (id, name, version, data) VALUES (?, ?, ?, ?)`, p.ID, p.Name, p.Version, data)
	if hoist.ErrorCode(err) == hoist.EConflict {
		return hoist.Errorf(hoist.EConflict, "a policy named %q exists", p.Name)
	}
	return err
}

func (t *tx) Policy(ctx context.Context, idOrName string) (hoist.Policy, error) {
	if t.bundle != nil {
		return t.bundle.policy(idOrName) // see bundleread.go
	}
	rows, err := t.query(ctx, "read policy", `SELECT data FROM policies WHERE id = ? OR name = ? ORDER BY CASE WHEN id = ? THEN 0 ELSE 1 END LIMIT 1`, idOrName, idOrName, idOrName)
	if err != nil {
		return hoist.Policy{}, err
	}
	ps, err := scanJSON[hoist.Policy](t, rows)
	if err != nil {
		return hoist.Policy{}, err
	}
	if len(ps) == 0 {
		return hoist.Policy{}, hoist.Errorf(hoist.ENotFound, "no policy %q", idOrName)
	}
	return ps[0], nil
}

func (t *tx) Policies(ctx context.Context) ([]hoist.Policy, error) {
	if t.bundle != nil {
		return decodeAll[hoist.Policy](t.bundle.policies) // see bundleread.go
	}
	rows, err := t.query(ctx, "list policies", `SELECT data FROM policies ORDER BY name`)
	if err != nil {
		return nil, err
	}
	return scanJSON[hoist.Policy](t, rows)
}

func (t *tx) UpdatePolicy(ctx context.Context, p hoist.Policy) error {
	data, err := encode(p)
	if err != nil {
		return err
	}
	res, err := t.exec(ctx, "update policy", `UPDATE policies SET name = ?, version = ?, data = ? WHERE id = ? AND version = ?`,
		p.Name, p.Version, data, p.ID, p.Version-1)
	if hoist.ErrorCode(err) == hoist.EConflict {
		return hoist.Errorf(hoist.EConflict, "a policy named %q exists", p.Name)
	}
	if err != nil {
		return err
	}
	return expectOne(res, hoist.Errorf(hoist.EConflict, "policy %s was changed by someone else; reload and try again", p.ID))
}

func (t *tx) DeletePolicy(ctx context.Context, id string) error {
	res, err := t.exec(ctx, "delete policy", `DELETE FROM policies WHERE id = ?`, id)
	if err != nil {
		return err
	}
	return expectOne(res, hoist.Errorf(hoist.ENotFound, "no policy %s", id))
}

func (t *tx) InsertGroup(ctx context.Context, g hoist.ComputerGroup) error {
	data, err := encode(g)
	if err != nil {
		return err
	}
	_, err = t.exec(ctx, "insert group", `INSERT INTO computer_groups (id, name, version, data) VALUES (?, ?, ?, ?)`, g.ID, g.Name, g.Version, data)
	if hoist.ErrorCode(err) == hoist.EConflict {
		return hoist.Errorf(hoist.EConflict, "a group named %q exists", g.Name)
	}
	return err
}

func (t *tx) Group(ctx context.Context, idOrName string) (hoist.ComputerGroup, error) {
	rows, err := t.query(ctx, "read group", `SELECT data FROM computer_groups WHERE id = ? OR name = ? ORDER BY CASE WHEN id = ? THEN 0 ELSE 1 END LIMIT 1`, idOrName, idOrName, idOrName)
	if err != nil {
		return hoist.ComputerGroup{}, err
	}
	gs, err := scanJSON[hoist.ComputerGroup](t, rows)
	if err != nil {
		return hoist.ComputerGroup{}, err
	}
	if len(gs) == 0 {
		return hoist.ComputerGroup{}, hoist.Errorf(hoist.ENotFound, "no computer group %q", idOrName)
	}
	return gs[0], nil
}

func (t *tx) Groups(ctx context.Context) ([]hoist.ComputerGroup, error) {
	if t.prefetches() {
		return t.groupsAndRest(ctx) // see bundleread.go
	}
	rows, err := t.query(ctx, "list groups", `SELECT data FROM computer_groups ORDER BY name`)
	if err != nil {
		return nil, err
	}
	return scanJSON[hoist.ComputerGroup](t, rows)
}

func (t *tx) UpdateGroup(ctx context.Context, g hoist.ComputerGroup) error {
	data, err := encode(g)
	if err != nil {
		return err
	}
	res, err := t.exec(ctx, "update group", `UPDATE computer_groups SET name = ?, version = ?, data = ? WHERE id = ? AND version = ?`,
		g.Name, g.Version, data, g.ID, g.Version-1)
	if hoist.ErrorCode(err) == hoist.EConflict {
		return hoist.Errorf(hoist.EConflict, "a group named %q exists", g.Name)
	}
	if err != nil {
		return err
	}
	return expectOne(res, hoist.Errorf(hoist.EConflict, "group %s was changed by someone else; reload and try again", g.ID))
}

func (t *tx) DeleteGroup(ctx context.Context, id string) error {
	res, err := t.exec(ctx, "delete group", `DELETE FROM computer_groups WHERE id = ?`, id)
	if err != nil {
		return err
	}
	return expectOne(res, hoist.Errorf(hoist.ENotFound, "no computer group %s", id))
}
