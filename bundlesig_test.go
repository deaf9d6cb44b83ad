package hoist_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/hoist-jit/hoist"
)

func TestBundleSignature(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	otherPub, otherPriv, _ := ed25519.GenerateKey(nil)
	b := hoist.Bundle{Revision: "r1", Groups: []string{hoist.DefaultGroup}, Policies: []hoist.Policy{}}
	data, sig, err := hoist.SignBundle(priv, b)
	if err != nil {
		t.Fatal(err)
	}
	_, forged, _ := hoist.SignBundle(otherPriv, b)
	// Root adds an elevate rule and keeps the revision.
	widened := bytes.Replace(data, []byte(`"policies":[]`), []byte(`"policies":[{"id":"pol_x","name":"x","kind":"application","groups":["default"],"active":true,"application":{"path":"/bin/sh","action":"elevate"}}]`), 1)
	if bytes.Equal(widened, data) {
		t.Fatalf("the test's edit did not apply to %s", data)
	}
	// A grant is signed with the same key: its signature is no bundle's.
	grant, _ := hoist.SignGrant(priv, hoist.Grant{Agent: "agt_a", User: "alice", Session: hoist.NewID(hoist.SessionIDPrefix), Scope: hoist.GrantScopeJIT})
	p, s, _ := strings.Cut(grant, ".")
	grantPayload, _ := base64.RawURLEncoding.DecodeString(p)
	grantSig, _ := base64.RawURLEncoding.DecodeString(s)
	for _, tc := range []struct {
		name      string
		key       ed25519.PublicKey
		data, sig []byte
		ok        bool
	}{
		{"as signed", pub, data, sig, true},
		{"edited after signing", pub, widened, sig, false},
		{"signed by another key", pub, data, forged, false},
		{"checked against another key", otherPub, data, sig, false},
		{"not signed", pub, data, nil, false},
		{"a short signature", pub, data, sig[:10], false},
		{"no key", nil, data, sig, false},
		{"a grant and its signature", pub, grantPayload, grantSig, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := hoist.VerifyBundle(tc.key, tc.data, tc.sig)
			if tc.ok && err != nil {
				t.Fatalf("VerifyBundle: got %v, want nil", err)
			}
			if !tc.ok && hoist.ErrorCode(err) != hoist.EForbidden {
				t.Fatalf("VerifyBundle: got %v, want a %s error", err, hoist.EForbidden)
			}
		})
	}
}
