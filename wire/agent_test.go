package wire_test

import (
	"strings"
	"testing"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/wire"
)

func TestEnrollTokenRoundTrip(t *testing.T) {
	want := wire.EnrollToken{URL: "https://hoist.example:8443", Fingerprint: strings.Repeat("ab", 32), Secret: strings.Repeat("s", 32)}
	s := want.String()
	if !strings.HasPrefix(s, wire.EnrollTokenPrefix) {
		t.Fatalf("token %q: want the prefix %q", s, wire.EnrollTokenPrefix)
	}
	got, err := wire.ParseEnrollToken("  " + s + "\n") // as pasted from a terminal
	if err != nil || got != want {
		t.Fatalf("ParseEnrollToken(String()): got %+v, %v; want %+v", got, err, want)
	}
}

func TestEnrollTokenRefusals(t *testing.T) {
	fp, secret := strings.Repeat("ab", 32), strings.Repeat("s", 32)
	for _, tc := range []struct{ name, token string }{
		{"empty", ""},
		{"no prefix", strings.TrimPrefix(wire.EnrollToken{URL: "https://h", Fingerprint: fp, Secret: secret}.String(), wire.EnrollTokenPrefix)},
		{"not base64", wire.EnrollTokenPrefix + "!!!"},
		{"not JSON", wire.EnrollTokenPrefix + "bm90IGpzb24"},
		{"no URL", wire.EnrollToken{Fingerprint: fp, Secret: secret}.String()},
		{"short fingerprint", wire.EnrollToken{URL: "https://h", Fingerprint: "ab", Secret: secret}.String()},
		{"short secret", wire.EnrollToken{URL: "https://h", Fingerprint: fp, Secret: "s"}.String()},
		{"too long", wire.EnrollToken{URL: "https://h/" + strings.Repeat("x", 3000), Fingerprint: fp, Secret: secret}.String()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := wire.ParseEnrollToken(tc.token); hoist.ErrorCode(err) != hoist.EInvalid {
				t.Errorf("ParseEnrollToken: got %v, want an %s error", err, hoist.EInvalid)
			}
		})
	}
}
