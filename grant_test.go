package hoist_test

import (
	"crypto/ed25519"
	"strings"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
)

func TestGrantForgeryIsRefused(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	_, otherPriv, _ := ed25519.GenerateKey(nil)
	g := hoist.Grant{Agent: "agt_a", User: "alice", Request: "req_x", Session: hoist.NewID(hoist.SessionIDPrefix),
		NotBefore: t0, NotAfter: t0.Add(time.Hour), Scope: hoist.GrantScopeJIT}
	good, err := hoist.SignGrant(priv, g)
	if err != nil {
		t.Fatal(err)
	}
	forged, _ := hoist.SignGrant(otherPriv, g)
	payload, sig, _ := strings.Cut(good, ".")
	widened := g
	widened.NotAfter = t0.Add(100 * time.Hour)
	widenedSigned, _ := hoist.SignGrant(otherPriv, widened)
	wp, _, _ := strings.Cut(widenedSigned, ".")
	cases := []struct {
		name   string
		signed string
		agent  string
		at     time.Time
		ok     bool
	}{
		{"valid", good, "agt_a", t0.Add(time.Minute), true},
		{"signed by another key", forged, "agt_a", t0.Add(time.Minute), false},
		{"payload swapped under a real signature", wp + "." + sig, "agt_a", t0.Add(time.Minute), false},
		{"for another agent", good, "agt_b", t0.Add(time.Minute), false},
		{"expired", good, "agt_a", t0.Add(time.Hour), false},
		{"not valid yet", good, "agt_a", t0.Add(-time.Hour), false},
		{"a little clock skew", good, "agt_a", t0.Add(-time.Minute), true},
		{"truncated signature", payload + "." + sig[:10], "agt_a", t0, false},
		{"no signature", payload, "agt_a", t0, false},
		{"garbage", "x.y", "agt_a", t0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := hoist.VerifyGrant(pub, tc.signed, tc.agent, tc.at)
			if (err == nil) != tc.ok {
				t.Fatalf("VerifyGrant = %v, want ok %v", err, tc.ok)
			}
			if tc.ok && (got.User != "alice" || got.Session != g.Session || !got.NotAfter.Equal(g.NotAfter)) {
				t.Fatalf("grant = %+v", got)
			}
		})
	}
}
