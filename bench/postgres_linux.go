package main

import (
	"database/sql"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver

	"github.com/hoist-jit/hoist/pgtest"
)

// startPostgres makes the harness its own PostgreSQL, as package pgtest
// makes one for the tests, but with PostgreSQL's durable defaults (fsync,
// synchronous commit), since these figures stand for a real deployment; and
// a database "hoist" in it. Stop removes it.
func startPostgres() (*pgtest.Cluster, error) {
	c, err := pgtest.StartCluster(true)
	if err != nil {
		return nil, err
	}
	db, err := sql.Open("pgx", c.URL("postgres"))
	if err != nil {
		c.Stop()
		return nil, err
	}
	defer db.Close()
	if _, err := db.Exec("CREATE DATABASE hoist"); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}
