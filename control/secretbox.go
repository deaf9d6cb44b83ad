package control

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"strings"

	"github.com/hoist-jit/hoist"
)

// secretBox seals integration secrets for the store with AES-256-GCM under a
// key kept outside it (in the server's data directory), so that a copy of
// the database alone does not hold a webhook's key or an SMTP password.
type secretBox struct{ aead cipher.AEAD }

// sealedPrefix marks a sealed value and the format's version.
const sealedPrefix = "sealed:v1:"

func newSecretBox(key []byte) (*secretBox, error) {
	if len(key) == 0 {
		return nil, nil
	}
	if len(key) != 32 {
		return nil, hoist.Errorf(hoist.EInvalid, "the integrations key must be 32 bytes, not %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, hoist.WrapError(hoist.EInternal, "cannot use the integrations key", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, hoist.WrapError(hoist.EInternal, "cannot use the integrations key", err)
	}
	return &secretBox{aead: aead}, nil
}

// seal returns plain sealed; "" stays "". The integration id is the
// additional data, so a sealed value moved to another integration does not
// open.
func (b *secretBox) seal(id, plain string) (string, error) {
	if plain == "" {
		return "", nil
	}
	if b == nil {
		return "", hoist.Errorf(hoist.EUnavailable, "this server has no key to store integration secrets with")
	}
	nonce := make([]byte, b.aead.NonceSize())
	_, _ = rand.Read(nonce)
	out := b.aead.Seal(nonce, nonce, []byte(plain), []byte(id))
	return sealedPrefix + base64.RawStdEncoding.EncodeToString(out), nil
}

// open reverses seal.
func (b *secretBox) open(id, sealed string) (string, error) {
	if sealed == "" {
		return "", nil
	}
	rest, ok := strings.CutPrefix(sealed, sealedPrefix)
	if !ok || b == nil {
		return "", hoist.Errorf(hoist.EInternal, "a stored integration secret cannot be opened")
	}
	raw, err := base64.RawStdEncoding.DecodeString(rest)
	if err != nil || len(raw) < b.aead.NonceSize() {
		return "", hoist.Errorf(hoist.EInternal, "a stored integration secret is damaged")
	}
	n := b.aead.NonceSize()
	plain, err := b.aead.Open(nil, raw[:n], raw[n:], []byte(id))
	if err != nil {
		return "", hoist.Errorf(hoist.EInternal, "a stored integration secret does not open with this server's key")
	}
	return string(plain), nil
}

// sealConfig returns c with its secrets sealed.
func (b *secretBox) sealConfig(id string, c hoist.SinkConfig) (hoist.SinkConfig, error) {
	var err error
	if c.Secret, err = b.seal(id, c.Secret); err != nil {
		return c, err
	}
	c.SigningSecret, err = b.seal(id, c.SigningSecret)
	return c, err
}

// openConfig returns c with its secrets opened, for a sink to use.
func (b *secretBox) openConfig(id string, c hoist.SinkConfig) (hoist.SinkConfig, error) {
	var err error
	if c.Secret, err = b.open(id, c.Secret); err != nil {
		return c, err
	}
	c.SigningSecret, err = b.open(id, c.SigningSecret)
	return c, err
}
