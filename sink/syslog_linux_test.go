package sink_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/control"
	"github.com/hoist-jit/hoist/testenv"
)

// rsyslog is a real rsyslogd listening on loopback over TLS (its gtls
// driver), writing every message it receives, raw, to a file.
type rsyslog struct {
	dir, out  string
	port      int
	pki       testPKI
	transport string
	cmd       *exec.Cmd
}

func newRsyslog(t *testing.T) *rsyslog { return newRsyslogOn(t, "tls") }

// newRsyslogOn is an rsyslogd receiving over transport: tls, tcp or udp.
func newRsyslogOn(t *testing.T, transport string) *rsyslog {
	t.Helper()
	_, err := exec.LookPath("rsyslogd")
	testenv.Require(t, err == nil, "rsyslogd (Debian package rsyslog, with rsyslog-gnutls)")
	dir := t.TempDir()
	rs := &rsyslog{dir: dir, out: filepath.Join(dir, "received.log"), port: freePort(t), pki: newTestPKI(t), transport: transport}
	input := fmt.Sprintf(`module(load="imtcp")
input(type="imtcp" address="127.0.0.1" port="%d")`, rs.port)
	switch transport {
	case "tls":
		input = fmt.Sprintf(`global(DefaultNetstreamDriver="gtls"
  DefaultNetstreamDriverCAFile=%q DefaultNetstreamDriverCertFile=%q DefaultNetstreamDriverKeyFile=%q)
module(load="imtcp" StreamDriver.Name="gtls" StreamDriver.Mode="1" StreamDriver.AuthMode="anon")
input(type="imtcp" address="127.0.0.1" port="%d")`, rs.pki.CAFile, rs.pki.CertFile, rs.pki.KeyFile, rs.port)
	case "udp":
		input = fmt.Sprintf(`module(load="imudp")
input(type="imudp" address="127.0.0.1" port="%d")`, rs.port)
	}
	conf := fmt.Sprintf(`global(workDirectory=%q)
%s
template(name="raw" type="string" string="%%rawmsg%%\n")
action(type="omfile" file=%q template="raw")
`, dir, input, rs.out)
	if err := os.WriteFile(filepath.Join(dir, "rsyslog.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rs.stop)
	return rs
}

// start runs rsyslogd and waits until it accepts connections.
func (rs *rsyslog) start(t *testing.T) {
	t.Helper()
	rs.cmd = exec.Command("rsyslogd", "-n", "-f", filepath.Join(rs.dir, "rsyslog.conf"), "-i", filepath.Join(rs.dir, "rsyslogd.pid"))
	rs.cmd.Stdout, rs.cmd.Stderr = os.Stderr, os.Stderr
	if err := rs.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if rs.transport != "tls" {
		// TCP: a connection is accepted; UDP: the file shows up once
		// rsyslogd runs (nothing answers a datagram).
		testenv.WaitUntil(t, "rsyslogd started", func() bool {
			if rs.transport == "udp" {
				_, err := os.Stat(filepath.Join(rs.dir, "rsyslogd.pid"))
				return err == nil
			}
			c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(rs.port))
			if err == nil {
				c.Close()
			}
			return err == nil
		})
		return
	}
	testenv.WaitUntil(t, "rsyslogd listening", func() bool {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM([]byte(rs.pki.CAPEM))
		c, err := tls.Dial("tcp", "127.0.0.1:"+strconv.Itoa(rs.port), &tls.Config{RootCAs: pool})
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

// stop ends the rsyslogd this test started, by its pid, and waits for it.
func (rs *rsyslog) stop() {
	if rs.cmd == nil || rs.cmd.Process == nil {
		return
	}
	_ = rs.cmd.Process.Signal(syscall.SIGTERM)
	_ = rs.cmd.Wait()
	rs.cmd = nil
}

var seqRe = regexp.MustCompile(`\[hoist@32473 seq="(\d+)" actor="[^"]*" action="([^"]*)"`)

// seqs returns the audit sequence numbers in the received file, in order.
func (rs *rsyslog) seqs(t *testing.T) []int64 {
	t.Helper()
	data, err := os.ReadFile(rs.out)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []int64
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		m := seqRe.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		n, _ := strconv.ParseInt(m[1], 10, 64)
		out = append(out, n)
	}
	return out
}

func auditHead(t *testing.T, store hoist.Store) int64 {
	t.Helper()
	var seq int64
	if err := store.View(ctx, func(tx hoist.Tx) (err error) { seq, _, err = tx.AuditHead(ctx); return err }); err != nil {
		t.Fatal(err)
	}
	return seq
}

// TestSyslogToRsyslogResumesWithoutGapOrDuplicate: every audit record
// reaches a real rsyslog over TLS as RFC 5424 with the record in structured
// data, in audit order; while rsyslog is down nothing is lost, and after it
// comes back the stream resumes at the first record it did not get: no gap,
// no duplicate.
func TestSyslogToRsyslogResumesWithoutGapOrDuplicate(t *testing.T) {
	rs := newRsyslog(t)
	f := newFixture(t)
	start := auditHead(t, f.store) // the stream starts with the record of the add
	_, err := f.svc.AddIntegration(ctx, f.admin, control.IntegrationInput{Name: "siem", Kind: hoist.SinkSyslog,
		Config: hoist.SinkConfig{Address: "tls://127.0.0.1:" + strconv.Itoa(rs.port), CA: rs.pki.CAPEM}})
	if err != nil {
		t.Fatal(err)
	}
	f.requests(t, 3)
	if _, err := f.svc.Deliver(ctx); err != nil {
		t.Fatal(err)
	}
	views, _ := f.svc.Integrations(ctx, f.admin)
	if views[0].Failing != 1 || views[0].Pending == 0 {
		t.Fatalf("with rsyslog down: got %+v, want one failure and records pending", views[0])
	}

	rs.start(t)
	f.deliverUntil(t, rs, start)
	rs.stop()
	f.requests(t, 4)
	f.deliverFails(t)
	rs.start(t)
	f.deliverUntil(t, rs, start)

	got := rs.seqs(t)
	for i, seq := range got {
		if seq != start+int64(i)+1 {
			t.Fatalf("received sequence %v: at %d got %d, want %d (no gap, no duplicate)", got, i, seq, start+int64(i)+1)
		}
	}
	raw, _ := os.ReadFile(rs.out)
	if !strings.Contains(string(raw), `action="request.created"`) || !strings.HasPrefix(string(raw), "<85>1 ") {
		t.Fatalf("rsyslog's file does not hold RFC 5424 records of the requests:\n%s", raw)
	}
}

// requests makes n requests, each a few audit records.
func (f *fixture) requests(t *testing.T, n int) {
	t.Helper()
	for range n {
		f.next++
		if _, _, err := f.svc.CreateRequest(ctx, control.RequestInput{User: "user" + strconv.Itoa(f.next), Host: "web-1", Reason: "fix it", Duration: time.Hour}); err != nil {
			t.Fatal(err)
		}
	}
}

// deliverUntil delivers, past any backoff, until rsyslog has every record
// up to the audit head.
func (f *fixture) deliverUntil(t *testing.T, rs *rsyslog, start int64) {
	t.Helper()
	testenv.WaitUntil(t, "rsyslog has every audit record", func() bool {
		f.clock.Add(hoist.BreakerCooldown + time.Minute)
		_, _ = f.svc.Deliver(ctx)
		got := rs.seqs(t)
		return len(got) > 0 && got[len(got)-1] >= auditHead(t, f.store)
	})
}

// deliverFails checks that a delivery pass with the receiver down fails.
func (f *fixture) deliverFails(t *testing.T) {
	t.Helper()
	f.clock.Add(hoist.BreakerCooldown + time.Minute)
	before, _ := f.svc.Integrations(ctx, f.admin)
	_, _ = f.svc.Deliver(ctx)
	after, _ := f.svc.Integrations(ctx, f.admin)
	if after[0].Failing != before[0].Failing+1 {
		t.Fatalf("with rsyslog stopped: failures %d then %d, want one more", before[0].Failing, after[0].Failing)
	}
}

// TestSyslogPlainTCPAndUDPAsJSON: the same stream reaches rsyslog over
// plain TCP and over UDP, with --format json: each message's body is the
// whole audit record, in order.
func TestSyslogPlainTCPAndUDPAsJSON(t *testing.T) {
	for _, transport := range []string{"tcp", "udp"} {
		t.Run(transport, func(t *testing.T) {
			rs := newRsyslogOn(t, transport)
			rs.start(t)
			f := newFixture(t)
			start := auditHead(t, f.store)
			mustAdd(t, f, control.IntegrationInput{Name: "siem", Kind: hoist.SinkSyslog,
				Config: hoist.SinkConfig{Address: transport + "://127.0.0.1:" + strconv.Itoa(rs.port), Format: "json"}})
			f.requests(t, 3)
			var seqs []int64
			testenv.WaitUntil(t, "rsyslog has every record", func() bool {
				_, _ = f.svc.Deliver(ctx)
				seqs = nil
				data, _ := os.ReadFile(rs.out)
				for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
					head, body, ok := strings.Cut(line, "\ufeff") // MSG begins with a BOM
					if !ok || !strings.HasSuffix(head, " - ") {
						continue
					}
					var rec hoist.AuditRecord
					if err := json.Unmarshal([]byte(body), &rec); err != nil {
						t.Fatalf("not a JSON record: %q: %v", body, err)
					}
					seqs = append(seqs, rec.Seq)
				}
				return len(seqs) > 0 && seqs[len(seqs)-1] >= auditHead(t, f.store)
			})
			for i, seq := range seqs {
				if seq != start+int64(i)+1 {
					t.Fatalf("sequences %v: want %d.. in order, once each", seqs, start+1)
				}
			}
		})
	}
}
