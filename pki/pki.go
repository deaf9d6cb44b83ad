// Package pki manages hoist-server's TLS material: a private certificate
// authority kept in the data directory, the server certificate it signs, and
// the client certificates it will issue to agents for mutual TLS.
//
// Clients trust the server by pinning the CA (its file or its Fingerprint),
// not through the system roots, so the server certificate can be reissued
// freely while the CA must survive restarts. That asymmetry drives the error
// handling: a damaged or half-present CA is an error for the operator to fix,
// whereas an unusable server certificate is simply replaced.
//
// Every function takes the current time as an argument so that callers and
// tests control the clock.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// CA is the server's certificate authority: it signs the server's own TLS
// certificate now, and agents' client certificates later.
type CA struct {
	Cert    *x509.Certificate
	CertPEM []byte
	Key     *ecdsa.PrivateKey
}

// File names inside the data directory.
const (
	CAFile         = "ca.pem"
	CAKeyFile      = "ca-key.pem"
	ServerCertFile = "server.pem"
	ServerKeyFile  = "server-key.pem"
)

const (
	caValidity     = 10 * 365 * 24 * time.Hour
	serverValidity = 365 * 24 * time.Hour
	// renewBefore leaves a month for the operator to notice a server that
	// has not restarted since the certificate was issued.
	renewBefore = 30 * 24 * time.Hour
	// backdate tolerates clients whose clocks run slightly behind ours.
	backdate = time.Hour
)

// LoadOrCreateCA loads DIR/ca.pem and DIR/ca-key.pem, or creates them (and
// DIR, mode 0700) when both are missing: a self-signed ECDSA P-256 CA named
// "Hoist CA", valid for ten years from now.
//
// It never overwrites existing files: if only one of the two exists, if either
// cannot be read or parsed, if the certificate is not a CA or is outside its
// validity period at now, or if the key does not match the certificate, it
// returns an error naming the file and the problem.
func LoadOrCreateCA(dir string, now time.Time) (*CA, error) {
	certPath, keyPath := filepath.Join(dir, CAFile), filepath.Join(dir, CAKeyFile)
	certPEM, certErr := os.ReadFile(certPath)
	keyPEM, keyErr := os.ReadFile(keyPath)
	certMissing, keyMissing := errors.Is(certErr, fs.ErrNotExist), errors.Is(keyErr, fs.ErrNotExist)
	switch {
	case certMissing && keyMissing:
		return createCA(dir, now)
	case certMissing:
		return nil, fmt.Errorf("%s is missing but %s exists; restore it, or remove both to create a new CA (agents must then re-enrol)", certPath, keyPath)
	case keyMissing:
		return nil, fmt.Errorf("%s is missing but %s exists; restore it, or remove both to create a new CA (agents must then re-enrol)", keyPath, certPath)
	case certErr != nil:
		return nil, fmt.Errorf("reading %s: %w", certPath, certErr)
	case keyErr != nil:
		return nil, fmt.Errorf("reading %s: %w", keyPath, keyErr)
	}
	cert, err := parseCert(certPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", certPath, err)
	}
	if !cert.IsCA || cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, fmt.Errorf("%s: not a CA certificate", certPath)
	}
	if now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
		return nil, fmt.Errorf("%s: valid only from %s to %s, and it is now %s", certPath,
			cert.NotBefore.UTC().Format(time.RFC3339), cert.NotAfter.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", keyPath, err)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("%s: key does not match the certificate in %s", keyPath, certPath)
	}
	return &CA{Cert: cert, CertPEM: certPEM, Key: key}, nil
}

func createCA(dir string, now time.Time) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "Hoist CA"},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(caValidity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := sign(tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	// The key goes first so that a crash in between leaves a lone key, which
	// is refused on the next start, rather than a CA certificate with no key
	// that clients may already have pinned.
	if err := writeFileAtomic(filepath.Join(dir, CAKeyFile), keyPEM, 0o600); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(filepath.Join(dir, CAFile), certPEM, 0o644); err != nil {
		return nil, err
	}
	return &CA{Cert: cert, CertPEM: certPEM, Key: key}, nil
}

// ServerCertificate returns the server's TLS certificate, reusing
// DIR/server.pem and DIR/server-key.pem when they were signed by ca for server
// authentication, cover every name in hosts, and stay valid for at least 30
// days after now. Otherwise, including when the files are absent or damaged,
// it issues a new certificate for hosts (the first becomes the CommonName,
// IP literals become IP SANs, the rest DNS SANs), valid for a year but never
// beyond the CA, and writes both files atomically, the key with mode 0600.
//
// The result has Leaf set and a chain of the leaf alone, since clients pin
// the CA rather than expecting it to be sent.
func (ca *CA) ServerCertificate(dir string, hosts []string, now time.Time) (tls.Certificate, error) {
	if len(hosts) == 0 || slices.Contains(hosts, "") {
		return tls.Certificate{}, fmt.Errorf("server certificate needs non-empty host names, got %q", hosts)
	}
	certPath, keyPath := filepath.Join(dir, ServerCertFile), filepath.Join(dir, ServerKeyFile)
	if c, ok := ca.loadServer(certPath, keyPath, hosts, now); ok {
		return c, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: hosts[0]},
		NotBefore:   now.Add(-backdate),
		NotAfter:    ca.clampExpiry(now.Add(serverValidity)),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			if !slices.ContainsFunc(tmpl.IPAddresses, ip.Equal) {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			}
		} else if !slices.Contains(tmpl.DNSNames, h) {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := sign(tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return tls.Certificate{}, err
	}
	// Key before certificate: if we crash in between, the pair mismatches
	// and is reissued on the next start instead of being served half-new.
	if err := writeFileAtomic(keyPath, keyPEM, 0o600); err != nil {
		return tls.Certificate{}, err
	}
	if err := writeFileAtomic(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// loadServer reports whether the existing server files can be served as is.
// Any failure just means "reissue", so the reasons are not kept.
func (ca *CA) loadServer(certPath, keyPath string, hosts []string, now time.Time) (tls.Certificate, bool) {
	certPEM, err1 := os.ReadFile(certPath)
	keyPEM, err2 := os.ReadFile(keyPath)
	if err1 != nil || err2 != nil {
		return tls.Certificate{}, false
	}
	leaf, err1 := parseCert(certPEM)
	key, err2 := parseKey(keyPEM)
	if err1 != nil || err2 != nil || !key.PublicKey.Equal(leaf.PublicKey) ||
		leaf.CheckSignatureFrom(ca.Cert) != nil ||
		!slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageServerAuth) ||
		now.Before(leaf.NotBefore) || now.Add(renewBefore).After(leaf.NotAfter) {
		return tls.Certificate{}, false
	}
	for _, h := range hosts {
		if leaf.VerifyHostname(h) != nil {
			return tls.Certificate{}, false
		}
	}
	return tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: key, Leaf: leaf}, true
}

// IssueClientCertificate signs a client-authentication certificate for pub
// (an agent's key) and returns its DER. The certificate is valid from an hour
// before now until notAfter, clamped to the CA's own expiry because no chain
// can outlive its root.
func (ca *CA) IssueClientCertificate(pub crypto.PublicKey, commonName string, notAfter time.Time, now time.Time) ([]byte, error) {
	if commonName == "" {
		return nil, errors.New("client certificate needs a common name")
	}
	if !notAfter.After(now) {
		return nil, fmt.Errorf("client certificate for %q would expire at %s, not after now (%s)", commonName, notAfter, now)
	}
	return sign(&x509.Certificate{
		Subject:     pkix.Name{CommonName: commonName},
		NotBefore:   now.Add(-backdate),
		NotAfter:    ca.clampExpiry(notAfter),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, ca.Cert, pub, ca.Key)
}

func (ca *CA) clampExpiry(t time.Time) time.Time {
	if t.After(ca.Cert.NotAfter) {
		return ca.Cert.NotAfter
	}
	return t
}

// DefaultHosts returns the names the server certificate covers by default:
// "localhost", "127.0.0.1", "::1", and os.Hostname() when it is known.
func DefaultHosts() []string {
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	if h, err := os.Hostname(); err == nil && h != "" && h != "localhost" {
		hosts = append(hosts, h)
	}
	return hosts
}

// LoadCertPool reads a PEM file of CA certificates into a new pool. A file
// with no parseable certificate is an error rather than an empty pool, which
// would reject every server with a less helpful message.
func LoadCertPool(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("%s: no PEM certificate found", path)
	}
	return pool, nil
}

// Fingerprint returns the lowercase hex SHA-256 of the certificate's DER
// encoding, the form in which enrolment tokens pin the CA.
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}

// sign gives tmpl a random 128-bit serial and signs it with parent's key.
// Random serials keep reissued certificates distinct without state to track.
func sign(tmpl, parent *x509.Certificate, pub crypto.PublicKey, priv crypto.Signer) ([]byte, error) {
	limit := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 128), big.NewInt(1))
	serial, err := rand.Int(rand.Reader, limit)
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial.Add(serial, big.NewInt(1)) // RFC 5280: positive
	return x509.CreateCertificate(rand.Reader, tmpl, parent, pub, priv)
}

func parseCert(data []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM CERTIFICATE block")
	}
	return x509.ParseCertificate(block.Bytes)
}

// parseKey accepts SEC 1 as well as the PKCS #8 we write, so that a CA made
// with openssl can be dropped in.
func parseKey(data []byte) (*ecdsa.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	switch block.Type {
	case "EC PRIVATE KEY":
		return x509.ParseECPrivateKey(block.Bytes)
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, err
		}
		if ek, ok := k.(*ecdsa.PrivateKey); ok {
			return ek, nil
		}
		return nil, fmt.Errorf("%T key, want ECDSA", k)
	}
	return nil, fmt.Errorf("PEM block %q, want a private key", block.Type)
}

func encodeKey(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// writeFileAtomic replaces path so that readers, and a crash, see either the
// old content or the new, never a torn file. The temporary file is private
// from birth, so a key is never briefly world-readable.
func writeFileAtomic(path string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	// Chmod rather than relying on CreateTemp's 0600 and the umask, so the
	// final mode is exactly perm.
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	// Syncing the directory makes the rename itself durable; best effort,
	// since not every platform lets a directory be synced.
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
