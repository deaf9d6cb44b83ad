package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// pgCluster is a PostgreSQL the harness made for itself, as package pgtest
// makes one for the tests: initdb in a temporary directory, run as nobody,
// listening on a loopback port. Unlike the tests' cluster it keeps
// PostgreSQL's durable defaults (fsync, synchronous commit), since these
// figures stand for a real deployment.
type pgCluster struct {
	dir      string
	port     int
	password string
	cmd      *exec.Cmd
	done     chan struct{}
}

func pgBinDir() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if _, err := exec.LookPath("postgres"); err == nil {
			return filepath.Dir(p), nil
		}
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(matches) == 0 {
		return "", fmt.Errorf("PostgreSQL's initdb is neither on PATH nor in /usr/lib/postgresql/*/bin (apt-get install postgresql)")
	}
	return filepath.Dir(matches[len(matches)-1]), nil
}

func startPostgres() (*pgCluster, error) {
	bin, err := pgBinDir()
	if err != nil {
		return nil, err
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		return nil, err
	}
	uid, _ := strconv.Atoi(nobody.Uid)
	gid, _ := strconv.Atoi(nobody.Gid)
	cred := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	dir, err := os.MkdirTemp("", "hoist-bench-pg-")
	if err != nil {
		return nil, err
	}
	pw := make([]byte, 16)
	_, _ = rand.Read(pw)
	c := &pgCluster{dir: dir, password: hex.EncodeToString(pw), done: make(chan struct{})}
	fail := func(err error) (*pgCluster, error) { os.RemoveAll(dir); return nil, err }
	if err := os.Chown(dir, uid, gid); err != nil {
		return fail(err)
	}
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte(c.password+"\n"), 0o600); err != nil {
		return fail(err)
	}
	if err := os.Chown(pwFile, uid, gid); err != nil {
		return fail(err)
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "hoist", "--pwfile", pwFile,
		"--auth=scram-sha-256", "-E", "UTF8", "--locale=C")
	initdb.Dir = dir
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		return fail(fmt.Errorf("initdb: %v: %s", err, out))
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	c.port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	c.cmd = exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-p", strconv.Itoa(c.port), "-k", dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "max_connections=100", "-c", "shared_buffers=256MB")
	c.cmd.Dir = dir
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT, Setpgid: true}
	logFile, err := os.Create(filepath.Join(dir, "postgres.log"))
	if err != nil {
		return fail(err)
	}
	defer logFile.Close()
	c.cmd.Stdout, c.cmd.Stderr = logFile, logFile
	if err := c.cmd.Start(); err != nil {
		return fail(err)
	}
	go func() { _ = c.cmd.Wait(); close(c.done) }()
	if err := c.waitReady(30 * time.Second); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "postgres.log"))
		c.stop()
		return nil, fmt.Errorf("%v; log:\n%s", err, log)
	}
	db, err := sql.Open("pgx", c.url("postgres"))
	if err != nil {
		c.stop()
		return nil, err
	}
	defer db.Close()
	if _, err := db.Exec("CREATE DATABASE hoist"); err != nil {
		c.stop()
		return nil, err
	}
	return c, nil
}

func (c *pgCluster) url(db string) string {
	return fmt.Sprintf("postgres://hoist:%s@127.0.0.1:%d/%s?sslmode=disable", c.password, c.port, db)
}

func (c *pgCluster) waitReady(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		db, err := sql.Open("pgx", c.url("postgres"))
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			err = db.PingContext(ctx)
			cancel()
			db.Close()
			if err == nil {
				return nil
			}
		}
		select {
		case <-c.done:
			return fmt.Errorf("postgres exited during start-up")
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres not ready after %s: %v", limit, err)
		}
	}
}

// stop shuts the cluster down (a fast shutdown, by pid) and removes it.
func (c *pgCluster) stop() {
	if c.cmd != nil && c.cmd.Process != nil {
		_ = c.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-c.done:
		case <-time.After(20 * time.Second):
			_ = c.cmd.Process.Signal(syscall.SIGQUIT)
			<-c.done
		}
	}
	os.RemoveAll(c.dir)
}
