package pki_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hoist-jit/hoist/pki"
)

var now = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

var localHosts = []string{"localhost", "127.0.0.1", "::1"}

func newCA(t *testing.T, dir string) *pki.CA {
	t.Helper()
	ca, err := pki.LoadOrCreateCA(dir, now)
	if err != nil {
		t.Fatalf("LoadOrCreateCA: %v", err)
	}
	return ca
}

func serverCert(t *testing.T, ca *pki.CA, dir string, hosts []string, at time.Time) tls.Certificate {
	t.Helper()
	c, err := ca.ServerCertificate(dir, hosts, at)
	if err != nil {
		t.Fatalf("ServerCertificate: %v", err)
	}
	return c
}

func caPool(t *testing.T, dir string) *x509.CertPool {
	t.Helper()
	pool, err := pki.LoadCertPool(filepath.Join(dir, pki.CAFile))
	if err != nil {
		t.Fatalf("LoadCertPool: %v", err)
	}
	return pool
}

func mode(t *testing.T, path string) fs.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	must(t, err)
	must(t, os.WriteFile(to, data, 0o600))
}

// snapshot records the directory's files so a test can prove nothing was
// written, renamed or left behind.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		m[e.Name()] = string(data)
	}
	return m
}

func TestLoadOrCreateCA(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data") // does not exist yet
	ca := newCA(t, dir)

	for name, want := range map[string]fs.FileMode{pki.CAFile: 0o644, pki.CAKeyFile: 0o600} {
		if got := mode(t, filepath.Join(dir, name)); got != want {
			t.Errorf("%s mode = %v, want %v", name, got, want)
		}
	}
	c := ca.Cert
	if c.Subject.CommonName != "Hoist CA" || !c.IsCA || c.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign {
		t.Errorf("CA = CN %q IsCA %v KeyUsage %v", c.Subject.CommonName, c.IsCA, c.KeyUsage)
	}
	if !c.NotBefore.Equal(now.Add(-time.Hour)) || !c.NotAfter.Equal(now.Add(10*365*24*time.Hour)) {
		t.Errorf("CA validity = %v..%v", c.NotBefore, c.NotAfter)
	}
	if pub, ok := c.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
		t.Errorf("CA key = %T, want ECDSA P-256", c.PublicKey)
	}
	if c.SerialNumber.Sign() <= 0 || c.SerialNumber.BitLen() > 128 {
		t.Errorf("serial = %v, want positive and at most 128 bits", c.SerialNumber)
	}
	before := snapshot(t, dir)

	again, err := pki.LoadOrCreateCA(dir, now.Add(24*time.Hour))
	if err != nil {
		t.Fatalf("reload: %v", err)
	}
	if pki.Fingerprint(again.Cert) != pki.Fingerprint(ca.Cert) || !again.Key.Equal(ca.Key) || !bytes.Equal(again.CertPEM, ca.CertPEM) {
		t.Error("reloaded CA differs from the created one")
	}
	if after := snapshot(t, dir); !equalMaps(before, after) {
		t.Error("reloading the CA changed the data directory")
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestLoadOrCreateCAErrors(t *testing.T) {
	// other holds a valid CA and server pair to borrow files from.
	other := t.TempDir()
	otherCA := newCA(t, other)
	serverCert(t, otherCA, other, localHosts, now)
	validCA := func(t *testing.T, dir string) { newCA(t, dir) }

	tests := []struct {
		name     string
		setup    func(t *testing.T, dir string)
		at       time.Time
		wantFile string // the error must start with this file's path
		wantText string
	}{
		{"garbage ca.pem", func(t *testing.T, dir string) {
			validCA(t, dir)
			must(t, os.WriteFile(filepath.Join(dir, pki.CAFile), []byte("garbage\n"), 0o644))
		}, now, pki.CAFile, "PEM"},
		{"ca-key.pem missing", func(t *testing.T, dir string) {
			validCA(t, dir)
			must(t, os.Remove(filepath.Join(dir, pki.CAKeyFile)))
		}, now, pki.CAKeyFile, "missing"},
		{"ca.pem missing", func(t *testing.T, dir string) {
			validCA(t, dir)
			must(t, os.Remove(filepath.Join(dir, pki.CAFile)))
		}, now, pki.CAFile, "missing"},
		{"garbage ca-key.pem", func(t *testing.T, dir string) {
			validCA(t, dir)
			must(t, os.WriteFile(filepath.Join(dir, pki.CAKeyFile), []byte("garbage\n"), 0o600))
		}, now, pki.CAKeyFile, "PEM"},
		{"key of another CA", func(t *testing.T, dir string) {
			validCA(t, dir)
			copyFile(t, filepath.Join(other, pki.CAKeyFile), filepath.Join(dir, pki.CAKeyFile))
		}, now, pki.CAKeyFile, "does not match"},
		{"not a CA certificate", func(t *testing.T, dir string) {
			copyFile(t, filepath.Join(other, pki.ServerCertFile), filepath.Join(dir, pki.CAFile))
			copyFile(t, filepath.Join(other, pki.ServerKeyFile), filepath.Join(dir, pki.CAKeyFile))
		}, now, pki.CAFile, "not a CA"},
		{"expired CA", validCA, now.Add(11 * 365 * 24 * time.Hour), pki.CAFile, "valid only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.setup(t, dir)
			before := snapshot(t, dir)

			_, err := pki.LoadOrCreateCA(dir, tt.at)
			if err == nil {
				t.Fatal("LoadOrCreateCA succeeded, want an error")
			}
			if msg := err.Error(); !strings.HasPrefix(msg, filepath.Join(dir, tt.wantFile)) || !strings.Contains(msg, tt.wantText) {
				t.Errorf("error = %q, want it to start with %s and mention %q", msg, tt.wantFile, tt.wantText)
			}
			if after := snapshot(t, dir); !equalMaps(before, after) {
				t.Errorf("data directory changed: before %v, after %v", keys(before), keys(after))
			}
		})
	}
}

func keys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func TestServerCertificate(t *testing.T) {
	dir := t.TempDir()
	ca := newCA(t, dir)
	cert := serverCert(t, ca, dir, localHosts, now)

	if cert.Leaf == nil || len(cert.Certificate) != 1 || !bytes.Equal(cert.Leaf.Raw, cert.Certificate[0]) {
		t.Fatalf("chain has %d certificates (Leaf set: %v), want the leaf alone", len(cert.Certificate), cert.Leaf != nil)
	}
	if cn := cert.Leaf.Subject.CommonName; cn != "localhost" {
		t.Errorf("CommonName = %q, want localhost", cn)
	}
	if got := cert.Leaf.NotAfter; !got.Equal(now.Add(365 * 24 * time.Hour)) {
		t.Errorf("NotAfter = %v, want a year after now", got)
	}
	for name, want := range map[string]fs.FileMode{pki.ServerCertFile: 0o644, pki.ServerKeyFile: 0o600} {
		if got := mode(t, filepath.Join(dir, name)); got != want {
			t.Errorf("%s mode = %v, want %v", name, got, want)
		}
	}

	pool := caPool(t, dir)
	for _, tt := range []struct {
		name string
		ok   bool
	}{{"localhost", true}, {"127.0.0.1", true}, {"::1", true}, {"example.com", false}, {"10.0.0.1", false}} {
		_, err := cert.Leaf.Verify(x509.VerifyOptions{
			DNSName: tt.name, Roots: pool, CurrentTime: now,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		})
		if (err == nil) != tt.ok {
			t.Errorf("Verify(%s) error = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}

func TestServerCertificateReuse(t *testing.T) {
	// otherDir holds a valid server pair from a different CA.
	otherDir := t.TempDir()
	serverCert(t, newCA(t, otherDir), otherDir, localHosts, now)
	day := 24 * time.Hour

	tests := []struct {
		name  string
		prep  func(t *testing.T, dir string)
		hosts []string
		at    time.Time
		reuse bool
	}{
		{"same hosts", nil, localHosts, now, true},
		{"subset of hosts", nil, []string{"127.0.0.1"}, now, true},
		{"66 days left", nil, localHosts, now.Add(299 * day), true},
		{"25 days left", nil, localHosts, now.Add(340 * day), false},
		{"extra host", nil, append(slices.Clone(localHosts), "hoist.example.com"), now, false},
		{"extra IP", nil, append(slices.Clone(localHosts), "192.0.2.7"), now, false},
		{"garbage server.pem", func(t *testing.T, dir string) {
			must(t, os.WriteFile(filepath.Join(dir, pki.ServerCertFile), []byte("garbage"), 0o644))
		}, localHosts, now, false},
		{"server key missing", func(t *testing.T, dir string) {
			must(t, os.Remove(filepath.Join(dir, pki.ServerKeyFile)))
		}, localHosts, now, false},
		{"signed by another CA", func(t *testing.T, dir string) {
			for _, f := range []string{pki.ServerCertFile, pki.ServerKeyFile} {
				copyFile(t, filepath.Join(otherDir, f), filepath.Join(dir, f))
			}
		}, localHosts, now, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			ca := newCA(t, dir)
			first := serverCert(t, ca, dir, localHosts, now)
			if tt.prep != nil {
				tt.prep(t, dir)
			}

			second := serverCert(t, ca, dir, tt.hosts, tt.at)
			if reused := first.Leaf.SerialNumber.Cmp(second.Leaf.SerialNumber) == 0; reused != tt.reuse {
				t.Fatalf("reused = %v, want %v", reused, tt.reuse)
			}
			pool := caPool(t, dir)
			for _, h := range tt.hosts {
				if _, err := second.Leaf.Verify(x509.VerifyOptions{DNSName: h, Roots: pool, CurrentTime: tt.at}); err != nil {
					t.Errorf("Verify(%s): %v", h, err)
				}
			}
			// A reissued certificate must have been persisted, not just returned.
			third := serverCert(t, ca, dir, tt.hosts, tt.at)
			if third.Leaf.SerialNumber.Cmp(second.Leaf.SerialNumber) != 0 {
				t.Error("a third call did not reuse the second call's certificate")
			}
			if got := mode(t, filepath.Join(dir, pki.ServerKeyFile)); got != 0o600 {
				t.Errorf("%s mode = %v, want 0600", pki.ServerKeyFile, got)
			}
		})
	}
}

func TestServerCertificateRejectsNoHosts(t *testing.T) {
	dir := t.TempDir()
	ca := newCA(t, dir)
	for _, hosts := range [][]string{nil, {"localhost", ""}} {
		if _, err := ca.ServerCertificate(dir, hosts, now); err == nil {
			t.Errorf("ServerCertificate(%q) succeeded, want an error", hosts)
		}
	}
}

func TestTLSHandshake(t *testing.T) {
	dir := t.TempDir()
	ca := newCA(t, dir)
	cert := serverCert(t, ca, dir, localHosts, now)
	clock := func() time.Time { return now } // the certificates are valid around now, not the wall clock

	tests := []struct {
		name       string
		roots      *x509.CertPool
		serverName string
		wantErr    bool
	}{
		{"pinned CA, localhost", caPool(t, dir), "localhost", false},
		{"pinned CA, IP", caPool(t, dir), "127.0.0.1", false},
		{"empty pool", x509.NewCertPool(), "localhost", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, Time: clock})
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			served := make(chan error, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					served <- err
					return
				}
				defer c.Close()
				served <- c.(*tls.Conn).Handshake()
			}()

			conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: tt.roots, ServerName: tt.serverName, Time: clock})
			if err == nil {
				conn.Close()
			}
			serverErr := <-served
			if tt.wantErr {
				var verr *tls.CertificateVerificationError
				if !errors.As(err, &verr) {
					t.Errorf("client error = %v, want a certificate verification error", err)
				}
				return
			}
			if err != nil || serverErr != nil {
				t.Errorf("handshake: client %v, server %v", err, serverErr)
			}
		})
	}
}

func TestIssueClientCertificate(t *testing.T) {
	dir := t.TempDir()
	ca := newCA(t, dir)
	agentKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pool := caPool(t, dir)

	tests := []struct {
		name         string
		cn           string
		notAfter     time.Time
		wantErr      bool
		wantNotAfter time.Time
	}{
		{"one day", "agent-1", now.Add(24 * time.Hour), false, now.Add(24 * time.Hour)},
		{"beyond the CA", "agent-2", now.Add(20 * 365 * 24 * time.Hour), false, ca.Cert.NotAfter},
		{"already expired", "agent-3", now, true, time.Time{}},
		{"no common name", "", now.Add(time.Hour), true, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			der, err := ca.IssueClientCertificate(&agentKey.PublicKey, tt.cn, tt.notAfter, now)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error = %v, want error %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			leaf, err := x509.ParseCertificate(der)
			if err != nil {
				t.Fatal(err)
			}
			if leaf.Subject.CommonName != tt.cn || !leaf.NotAfter.Equal(tt.wantNotAfter) {
				t.Errorf("CN %q NotAfter %v, want %q %v", leaf.Subject.CommonName, leaf.NotAfter, tt.cn, tt.wantNotAfter)
			}
			if !agentKey.PublicKey.Equal(leaf.PublicKey) {
				t.Error("certificate is not for the agent's key")
			}
			opts := x509.VerifyOptions{Roots: pool, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
			if _, err := leaf.Verify(opts); err != nil {
				t.Errorf("Verify as client: %v", err)
			}
			opts.KeyUsages = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
			if _, err := leaf.Verify(opts); err == nil {
				t.Error("a client certificate verified for server auth")
			}
		})
	}

	// Random serials: two certificates for the same agent must differ.
	a, _ := ca.IssueClientCertificate(&agentKey.PublicKey, "agent", now.Add(time.Hour), now)
	b, _ := ca.IssueClientCertificate(&agentKey.PublicKey, "agent", now.Add(time.Hour), now)
	ca1, _ := x509.ParseCertificate(a)
	cb, _ := x509.ParseCertificate(b)
	if ca1 == nil || cb == nil || ca1.SerialNumber.Cmp(cb.SerialNumber) == 0 {
		t.Error("two issued certificates share a serial number")
	}
}

func TestLoadCertPool(t *testing.T) {
	dir := t.TempDir()
	newCA(t, dir)
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name    string
		path    string
		wantErr bool
	}{
		{"CA file", filepath.Join(dir, pki.CAFile), false},
		{"empty file", write("empty.pem", ""), true},
		{"garbage", write("garbage.pem", "not a certificate\n"), true},
		{"key only", filepath.Join(dir, pki.CAKeyFile), true},
		{"missing", filepath.Join(dir, "nope.pem"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pool, err := pki.LoadCertPool(tt.path)
			if (err != nil) != tt.wantErr || (err == nil && pool == nil) {
				t.Errorf("LoadCertPool = %v, %v; want error %v", pool, err, tt.wantErr)
			}
		})
	}
}

func TestFingerprint(t *testing.T) {
	a, b := newCA(t, t.TempDir()), newCA(t, t.TempDir())
	sum := sha256.Sum256(a.Cert.Raw)
	if got, want := pki.Fingerprint(a.Cert), hex.EncodeToString(sum[:]); got != want {
		t.Errorf("Fingerprint = %s, want %s", got, want)
	}
	if got := pki.Fingerprint(a.Cert); got != strings.ToLower(got) || len(got) != 64 {
		t.Errorf("Fingerprint = %q, want 64 lowercase hex digits", got)
	}
	if pki.Fingerprint(a.Cert) == pki.Fingerprint(b.Cert) {
		t.Error("two CAs share a fingerprint")
	}
}

func TestDefaultHosts(t *testing.T) {
	hosts := pki.DefaultHosts()
	for _, want := range localHosts {
		if !slices.Contains(hosts, want) {
			t.Errorf("DefaultHosts() = %q, missing %q", hosts, want)
		}
	}
	if h, err := os.Hostname(); err == nil && h != "" && !slices.Contains(hosts, h) {
		t.Errorf("DefaultHosts() = %q, missing hostname %q", hosts, h)
	}
}
