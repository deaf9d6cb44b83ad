package postgres

import (
	"github.com/jackc/pgx/v5"

	"github.com/hoist-jit/hoist"
)

func pgconnConfig(url string) (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		// pgx's message can echo the password; keep it out of the user's view.
		return nil, hoist.Errorf(hoist.EInvalid, "the database URL is not a valid PostgreSQL connection string")
	}
	return cfg, nil
}
