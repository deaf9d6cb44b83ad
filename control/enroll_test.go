package control_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/control"
	"github.com/hoist-jit/hoist/pki"
	"github.com/hoist-jit/hoist/testenv"
	"github.com/hoist-jit/hoist/wire"
)

// caSigner is a control.Signer on a real CA in a test directory.
type caSigner struct {
	ca  *pki.CA
	key ed25519.PrivateKey
}

func (s caSigner) IssueAgentCertificate(pub crypto.PublicKey, agentID string, now time.Time) ([]byte, error) {
	der, err := s.ca.IssueClientCertificate(pub, agentID, now.Add(24*time.Hour), now)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), err
}
func (s caSigner) GrantKey() ed25519.PrivateKey { return s.key }
func (s caSigner) CAPEM() []byte                { return s.ca.CertPEM }
func (s caSigner) CAFingerprint() string        { return pki.Fingerprint(s.ca.Cert) }

// enrolment is a server that can enrol agents, on one store.
type enrolment struct {
	svc   *control.Service
	store hoist.Store
	clock *testenv.Clock
}

func newEnrolment(t *testing.T, store hoist.Store) *enrolment {
	t.Helper()
	clk := testenv.NewClock(time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC))
	ca, err := pki.LoadOrCreateCA(t.TempDir(), clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	svc, err := control.New(control.Config{Store: store, Settings: hoist.DefaultApprovalSettings(), Clock: clk.Now, Signer: caSigner{ca, key},
		URL: "https://hoist.example.test:8443"})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Seed(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateGroup(ctx, watchAdmin, hoist.ComputerGroup{Name: "web"}); err != nil {
		t.Fatal(err)
	}
	return &enrolment{svc: svc, store: store, clock: clk}
}

// token makes a token of uses for group web and returns its secret.
func (e *enrolment) token(t *testing.T, uses int) string {
	t.Helper()
	token, _, err := e.svc.CreateEnrollToken(ctx, watchAdmin, "web", time.Hour, uses)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := wire.ParseEnrollToken(token)
	if err != nil {
		t.Fatal(err)
	}
	return parsed.Secret
}

// csr is a certificate request for a fresh key, as an agent sends it.
func csr(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "agent"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func (e *enrolment) enroll(secret, host string, csrDER []byte) (wire.Enrolment, error) {
	return e.svc.Enroll(ctx, secret, csrDER, wire.AgentFacts{Hostname: host, Version: hoist.Version, OS: "linux", Kernel: "6.1"})
}

// agents returns the stored agents and the agent.enrolled audit records.
func (e *enrolment) agents(t *testing.T) ([]hoist.AgentRecord, []hoist.AuditRecord) {
	t.Helper()
	var (
		agents  []hoist.AgentRecord
		records []hoist.AuditRecord
	)
	err := e.store.View(ctx, func(tx hoist.Tx) (err error) {
		if agents, err = tx.Agents(ctx); err != nil {
			return err
		}
		return tx.Audit(ctx, hoist.AuditFilter{Action: "agent.enrolled"}, func(r hoist.AuditRecord) error {
			records = append(records, r)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return agents, records
}

// TestEnrollTokenAdmitsNoMoreThanItsUses races many machines for a token of
// a few uses, as a fleet enrolling with one token does: exactly that many
// enrol, each with its agent record and its audit record in the chain, and
// every other one is refused and leaves nothing behind.
func TestEnrollTokenAdmitsNoMoreThanItsUses(t *testing.T) {
	eachStore(t, func(t *testing.T, store hoist.Store) {
		e := newEnrolment(t, store)
		const uses, machines = 5, 24
		secret := e.token(t, uses)
		csrs := make([][]byte, machines)
		for i := range csrs {
			csrs[i] = csr(t)
		}
		var (
			wg       sync.WaitGroup
			start    = make(chan struct{})
			mu       sync.Mutex
			enrolled []string
			refused  []error
		)
		for i := range machines {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				got, err := e.enroll(secret, fmt.Sprintf("ws-%02d", i), csrs[i])
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					refused = append(refused, err)
					return
				}
				enrolled = append(enrolled, got.AgentID)
			}()
		}
		close(start)
		wg.Wait()
		if len(enrolled) != uses {
			t.Fatalf("%d machines enrolled with a token of %d uses (refused: %v)", len(enrolled), uses, refused)
		}
		for _, err := range refused {
			if hoist.ErrorCode(err) != hoist.EUnauthorized {
				t.Errorf("refusal = %v (%s), want EUnauthorized", err, hoist.ErrorCode(err))
			}
		}
		agents, records := e.agents(t)
		if len(agents) != uses || len(records) != uses {
			t.Fatalf("stored %d agents and %d agent.enrolled records, want %d of each", len(agents), len(records), uses)
		}
		for _, a := range agents {
			if a.Group != "web" {
				t.Errorf("agent %s is in group %q, want the token's web", a.Hostname, a.Group)
			}
		}
		for _, r := range records {
			if r.Seq == 0 || r.Hash == "" {
				t.Errorf("enrolment record %+v has no place in the chain", r)
			}
		}
		rep, err := e.svc.VerifyAudit(ctx, watchAdmin)
		if err != nil || !rep.OK {
			t.Fatalf("audit chain after the race: %+v %v", rep, err)
		}
		if _, err := e.enroll(secret, "ws-late", csr(t)); hoist.ErrorCode(err) != hoist.EUnauthorized {
			t.Fatalf("an enrolment after the last use: %v, want EUnauthorized", err)
		}
	})
}

// TestEnrollRefusalsChangeNothing: an unknown, expired or used-up token is
// refused with the same message, and no agent or audit record is left.
func TestEnrollRefusalsChangeNothing(t *testing.T) {
	eachStore(t, func(t *testing.T, store hoist.Store) {
		e := newEnrolment(t, store)
		once := e.token(t, 1)
		if _, err := e.enroll(once, "ws-01", csr(t)); err != nil {
			t.Fatal(err)
		}
		expiring := e.token(t, 3)
		cases := []struct{ name, secret string }{
			{"unknown", "not-a-token"},
			{"used up", once},
			{"expired", expiring},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				if tc.name == "expired" {
					e.clock.Add(time.Hour)
				}
				_, err := e.enroll(tc.secret, "ws-"+tc.name[:2], csr(t))
				if hoist.ErrorCode(err) != hoist.EUnauthorized {
					t.Fatalf("got %v, want EUnauthorized", err)
				}
				agents, records := e.agents(t)
				if len(agents) != 1 || len(records) != 1 {
					t.Fatalf("after a refused enrolment: %d agents, %d records, want 1 and 1", len(agents), len(records))
				}
			})
		}
	})
}
