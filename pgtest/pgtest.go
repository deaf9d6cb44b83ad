//go:build unix

package pgtest

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
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// Cluster is a PostgreSQL this process made for itself: initdb in a
// temporary directory, run as nobody when root, listening on a loopback
// port, removed by Stop. The tests share one (see URL); the benchmark
// harness makes a durable one.
type Cluster struct {
	dir      string
	port     int
	password string
	cmd      *exec.Cmd
	done     chan struct{}
}

var (
	once     sync.Once
	shared   *Cluster
	startErr error
	dbSeq    int
	dbMu     sync.Mutex
)

// Main runs the tests and stops the server afterwards.
func Main(m *testing.M) int {
	code := m.Run()
	if shared != nil {
		shared.Stop()
	}
	return code
}

// URL returns the URL of a new, empty database for t, dropped when t ends.
func URL(t testing.TB) string {
	t.Helper()
	if url := os.Getenv("HOIST_TEST_POSTGRES"); url != "" {
		return url // an operator-provided server: tests share its database
	}
	once.Do(func() { shared, startErr = StartCluster(false) })
	if startErr != nil {
		if os.Getenv("HOIST_CI") != "" {
			t.Fatalf("PostgreSQL is required under HOIST_CI: %v", startErr)
		}
		t.Skipf("PostgreSQL not available: %v", startErr)
	}
	dbMu.Lock()
	dbSeq++
	name := fmt.Sprintf("test_%d_%d", os.Getpid(), dbSeq)
	dbMu.Unlock()
	admin := shared.URL("postgres")
	db, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("pgx", admin)
		if err != nil {
			return
		}
		defer db.Close()
		_, _ = db.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
	})
	return shared.URL(name)
}

// URL is the address of database db of the cluster, as its owner "hoist".
func (s *Cluster) URL(db string) string {
	return fmt.Sprintf("postgres://hoist:%s@127.0.0.1:%d/%s?sslmode=disable", s.password, s.port, db)
}

// BinDir finds the PostgreSQL server binaries: on PATH, or where Debian
// installs them.
func BinDir() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if _, err := exec.LookPath("postgres"); err == nil {
			return filepath.Dir(p), nil
		}
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(matches) == 0 {
		return "", fmt.Errorf("initdb not found on PATH nor in /usr/lib/postgresql/*/bin")
	}
	return filepath.Dir(matches[len(matches)-1]), nil
}

// StartCluster starts a cluster. Durable keeps PostgreSQL's defaults (fsync,
// synchronous commit, full-page writes), for figures that stand for a real
// deployment; otherwise they are off, for speed, as tests want.
func StartCluster(durable bool) (*Cluster, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "hoist-pgtest-")
	if err != nil {
		return nil, err
	}
	cred, err := runAs(dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	pw := make([]byte, 16)
	_, _ = rand.Read(pw)
	s := &Cluster{dir: dir, password: hex.EncodeToString(pw), done: make(chan struct{})}
	pwfile := filepath.Join(dir, "pw")
	data := filepath.Join(dir, "data")
	if err := os.WriteFile(pwfile, []byte(s.password+"\n"), 0o600); err != nil {
		return nil, s.fail(err)
	}
	if cred != nil {
		if err := os.Chown(pwfile, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, s.fail(err)
		}
	}
	initArgs := []string{"-D", data, "-U", "hoist", "--pwfile", pwfile, "--auth=scram-sha-256", "-E", "UTF8", "--locale=C"}
	settings := []string{"-c", "max_connections=100", "-c", "shared_buffers=256MB"}
	if _, err := os.Stat(filepath.Join(libDir(bin), "pg_stat_statements.so")); err == nil {
		// What each statement costs, for the benchmark harness's profile
		// (CREATE EXTENSION pg_stat_statements in the database to read it).
		settings = append(settings, "-c", "shared_preload_libraries=pg_stat_statements", "-c", "pg_stat_statements.track=all")
	}
	if !durable {
		initArgs = append(initArgs, "--no-sync")
		settings = []string{"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=200"}
	}
	initdb := exec.Command(filepath.Join(bin, "initdb"), initArgs...)
	initdb.Dir = dir
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, s.fail(fmt.Errorf("initdb: %v: %s", err, out))
	}
	if s.port, err = freePort(); err != nil {
		return nil, s.fail(err)
	}
	s.cmd = exec.Command(filepath.Join(bin, "postgres"), append([]string{"-D", data, "-p", strconv.Itoa(s.port),
		"-k", dir, "-c", "listen_addresses=127.0.0.1"}, settings...)...)
	s.cmd.Dir = dir
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT, Setpgid: true}
	log, _ := os.Create(filepath.Join(dir, "postgres.log"))
	s.cmd.Stdout, s.cmd.Stderr = log, log
	if err := s.cmd.Start(); err != nil {
		return nil, s.fail(err)
	}
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	if err := s.waitReady(30 * time.Second); err != nil {
		out, _ := os.ReadFile(filepath.Join(dir, "postgres.log"))
		s.Stop()
		return nil, fmt.Errorf("%v; server log:\n%s", err, out)
	}
	return s, nil
}

func (s *Cluster) waitReady(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		db, err := sql.Open("pgx", s.URL("postgres"))
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
		case <-s.done:
			return fmt.Errorf("postgres exited during start-up")
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres not ready after %s: %v", limit, err)
		}
	}
}

// Stop shuts the cluster down fast and removes its files.
func (s *Cluster) Stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(syscall.SIGQUIT) // by pid: only the server this package started
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	}
	os.RemoveAll(s.dir)
}

// libDir is where the server binaries in bin load their modules from
// (Debian's layout: bin/../lib, bin found through any symbolic link).
func libDir(bin string) string {
	if real, err := filepath.EvalSymlinks(filepath.Join(bin, "postgres")); err == nil {
		bin = filepath.Dir(real)
	}
	return filepath.Join(filepath.Dir(bin), "lib")
}

func (s *Cluster) fail(err error) error {
	os.RemoveAll(s.dir)
	return err
}

// runAs returns the credentials to run PostgreSQL with (it refuses to run as
// root) and hands dir to that user; nil when the tests are not root.
func runAs(dir string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		return nil, fmt.Errorf("no unprivileged user to run PostgreSQL as: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
