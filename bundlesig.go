package hoist

import (
	"crypto/ed25519"
	"encoding/json"
)

// bundleContext starts every message a bundle signature covers. It keeps a
// bundle signature from ever verifying as a grant (a grant's message is
// JSON, which starts with "{") or as anything else the grant key signs.
const bundleContext = "hoist-bundle-v1\n"

// bundleMessage is what a bundle signature covers.
func bundleMessage(data []byte) []byte {
	return append([]byte(bundleContext), data...)
}

// SignBundle encodes b and signs the encoding with the key grants are
// signed with. The server delivers data as it is, byte for byte, with sig:
// the agent verifies those bytes, not a re-encoding of them.
func SignBundle(key ed25519.PrivateKey, b Bundle) (data, sig []byte, err error) {
	data, err = json.Marshal(b)
	if err != nil {
		return nil, nil, WrapError(EInternal, "cannot encode the policy bundle", err)
	}
	return data, ed25519.Sign(key, bundleMessage(data)), nil
}

// VerifyBundle checks that sig is the signature, by the pinned key, of the
// bundle encoded as data. It fails with EForbidden for a bundle without a
// signature, or with one that does not verify.
func VerifyBundle(key ed25519.PublicKey, data, sig []byte) error {
	switch {
	case len(sig) == 0:
		return Errorf(EForbidden, "the policy bundle is not signed")
	case len(key) != ed25519.PublicKeySize || len(sig) != ed25519.SignatureSize || !ed25519.Verify(key, bundleMessage(data), sig):
		return Errorf(EForbidden, "the policy bundle's signature does not verify")
	}
	return nil
}
