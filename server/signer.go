package server

import (
	"crypto"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hoist-jit/hoist/control"
	"github.com/hoist-jit/hoist/pki"
)

// GrantKeyFile holds the Ed25519 key that signs grants. Replicas share it,
// like the CA.
const GrantKeyFile = "grant-key.pem"

// AgentCertLifetime is how long an agent's client certificate lasts.
const AgentCertLifetime = 365 * 24 * time.Hour

// signer backs control.Signer with the data directory's CA and grant key.
type signer struct {
	ca       *pki.CA
	grantKey ed25519.PrivateKey
}

var _ control.Signer = (*signer)(nil)

func (s *signer) IssueAgentCertificate(pub crypto.PublicKey, agentID string, now time.Time) ([]byte, error) {
	der, err := s.ca.IssueClientCertificate(pub, agentID, now.Add(AgentCertLifetime), now)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

func (s *signer) GrantKey() ed25519.PrivateKey { return s.grantKey }
func (s *signer) CAPEM() []byte                { return s.ca.CertPEM }
func (s *signer) CAFingerprint() string        { return pki.Fingerprint(s.ca.Cert) }

// loadOrCreateGrantKey reads DIR/grant-key.pem, or makes it (0600) when
// missing.
func loadOrCreateGrantKey(dir string) (ed25519.PrivateKey, error) {
	path := filepath.Join(dir, GrantKeyFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		_, key, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			return nil, err
		}
		return key, nil
	}
	if err != nil {
		return nil, err
	}
	return parseGrantKey(path, data)
}

// deviceKey derives the key that signs the console's and CLI's device
// tokens (control.Config.DeviceKey) from the grant key: servers that share
// a database share that key already, and a device token means nothing
// beside the grant key's worth.
func deviceKey(grantKey ed25519.PrivateKey) []byte {
	m := hmac.New(sha256.New, grantKey.Seed())
	m.Write([]byte("hoist device-token key v1"))
	return m.Sum(nil)
}

// loadGrantKey reads DIR/grant-key.pem and never makes one: a check of
// what the key signed needs the key that did.
func loadGrantKey(dir string) (ed25519.PrivateKey, error) {
	path := filepath.Join(dir, GrantKeyFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseGrantKey(path, data)
}

// parseGrantKey decodes the PEM PKCS#8 Ed25519 key read from path.
func parseGrantKey(path string, data []byte) (ed25519.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%s holds no PEM key", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	key, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s is not an Ed25519 key", path)
	}
	return key, nil
}
