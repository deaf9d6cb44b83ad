package main

import (
	"context"
	"database/sql"
	"fmt"
	"log"
	"os"
	"sort"
	"strings"
	"sync"
	"time"
)

// pgProbe looks at the harness's PostgreSQL from the side while a phase
// runs: what each statement cost (pg_stat_statements, where the cluster
// loaded it) and what the server's backends waited on (pg_stat_activity,
// sampled). Its reports go to the results directory; a probe that cannot
// read the statistics writes what it can and says why.
type pgProbe struct {
	db  *sql.DB
	dir string
}

func newPGProbe(url, dir string) (*pgProbe, error) {
	db, err := sql.Open("pgx", url)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(2)
	return &pgProbe{db: db, dir: dir}, nil
}

func (p *pgProbe) close() { p.db.Close() }

// reset forgets the statistics of the statements run so far.
func (p *pgProbe) reset() {
	if _, err := p.db.Exec(`CREATE EXTENSION IF NOT EXISTS pg_stat_statements`); err != nil {
		log.Printf("pg_stat_statements: %v", err)
		return
	}
	if _, err := p.db.Exec(`SELECT pg_stat_statements_reset()`); err != nil {
		log.Printf("pg_stat_statements: %v", err)
	}
}

// during runs phase while sampling the backends' wait events every 10 ms,
// then writes the statements' statistics and the waits to name.txt, with
// phase returning the count of operations it did (for statements per
// operation). On a nil probe it only runs phase.
func (p *pgProbe) during(name string, phase func() int) {
	if p == nil {
		phase()
		return
	}
	p.reset()
	ctx, cancel := context.WithCancel(context.Background())
	var (
		wg      sync.WaitGroup
		waits   = map[string]int{}
		samples int
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		samples = p.sampleWaits(ctx, waits)
	}()
	began := time.Now()
	ops := phase()
	took := time.Since(began)
	cancel()
	wg.Wait()
	var b strings.Builder
	fmt.Fprintf(&b, "phase %s: %d operations in %.2f s\n\n", name, ops, took.Seconds())
	p.writeStatements(&b, ops)
	fmt.Fprintf(&b, "\nwait events of active hoist backends, %d samples every 10 ms (state: event → share of samples)\n", samples)
	writeWaits(&b, waits, samples)
	path := fmt.Sprintf("%s/postgres-%s.txt", p.dir, name)
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		log.Printf("pg probe: %v", err)
	}
	log.Printf("pg probe: %s written", path)
}

// sampleWaits counts, until ctx ends, what the active backends of
// database hoist wait on; it returns how many samples it took.
func (p *pgProbe) sampleWaits(ctx context.Context, waits map[string]int) int {
	n := 0
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return n
		case <-tick.C:
		}
		rows, err := p.db.QueryContext(ctx, `SELECT coalesce(wait_event_type, 'CPU'), coalesce(wait_event, 'running')
			FROM pg_stat_activity WHERE datname = 'hoist' AND state = 'active' AND pid <> pg_backend_pid()`)
		if err != nil {
			return n
		}
		n++
		for rows.Next() {
			var typ, ev string
			if rows.Scan(&typ, &ev) == nil {
				waits[typ+": "+ev]++
			}
		}
		rows.Close()
	}
}

func writeWaits(b *strings.Builder, waits map[string]int, samples int) {
	keys := make([]string, 0, len(waits))
	for k := range waits {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return waits[keys[i]] > waits[keys[j]] })
	for _, k := range keys {
		fmt.Fprintf(b, "  %-45s %6d  (%.2f backends on average)\n", k, waits[k], float64(waits[k])/float64(max(1, samples)))
	}
}

// writeStatements lists the statements by total time, with calls per
// operation.
func (p *pgProbe) writeStatements(b *strings.Builder, ops int) {
	rows, err := p.db.Query(`SELECT calls, total_exec_time, mean_exec_time, rows, left(regexp_replace(query, '\s+', ' ', 'g'), 140)
		FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = 'hoist')
		ORDER BY total_exec_time DESC LIMIT 30`)
	if err != nil {
		fmt.Fprintf(b, "no pg_stat_statements: %v\n", err)
		return
	}
	defer rows.Close()
	fmt.Fprintf(b, "%8s %9s %10s %9s %8s  %s\n", "calls", "per op", "total ms", "mean ms", "rows", "statement")
	var calls int64
	for rows.Next() {
		var (
			n, nrows    int64
			total, mean float64
			q           string
		)
		if err := rows.Scan(&n, &total, &mean, &nrows, &q); err != nil {
			fmt.Fprintf(b, "scan: %v\n", err)
			return
		}
		calls += n
		fmt.Fprintf(b, "%8d %9.2f %10.1f %9.3f %8d  %s\n", n, float64(n)/float64(max(1, ops)), total, mean, nrows, q)
	}
	fmt.Fprintf(b, "statements (top 30) per operation: %.1f\n", float64(calls)/float64(max(1, ops)))
	// All of them, but the probe's own sampling: the figure to compare
	// between builds (the top 30 cut off a different tail each time).
	var all int64
	err = p.db.QueryRow(`SELECT coalesce(sum(calls), 0) FROM pg_stat_statements
		WHERE dbid = (SELECT oid FROM pg_database WHERE datname = 'hoist') AND query NOT LIKE '%pg_stat_activity%'`).Scan(&all)
	if err != nil {
		fmt.Fprintf(b, "all statements: %v\n", err)
		return
	}
	fmt.Fprintf(b, "statements (all, the probe's left out) per operation: %.1f\n", float64(all)/float64(max(1, ops)))
}
