package hoist_test

import (
	"encoding/json"
	"strings"
	"testing"
	"testing/quick"
	"time"

	"github.com/hoist-jit/hoist"
)

// letters returns a code's symbols without its dashes.
func letters(code string) []byte { return []byte(strings.ReplaceAll(code, "-", "")) }

func TestCodeRoundTrip(t *testing.T) {
	f := func(agent, user, nonce uint32, window uint8) bool {
		c := hoist.Challenge{Agent: agent >> 12, User: user >> 20, Window: int(window % 32), Nonce: nonce >> 14}
		got, err := hoist.ParseChallenge(c.String())
		return err == nil && got == c
	}
	if err := quick.Check(f, &quick.Config{MaxCount: 5000}); err != nil {
		t.Fatal(err)
	}
}

func TestCodeShape(t *testing.T) {
	c := hoist.NewChallenge("agt_x", "alice", 8, 12345)
	s := c.String()
	if len(s) != 14 || s[4] != '-' || s[9] != '-' {
		t.Fatalf("code %q, want three groups of four", s)
	}
	for _, r := range letters(s) {
		if !strings.ContainsRune(hoist.CodeAlphabet, rune(r)) || strings.ContainsRune("ILOU", rune(r)) {
			t.Fatalf("code %q has symbol %q", s, r)
		}
	}
	// As people type it: lower case, spaces, O for 0 and L for 1.
	typed := strings.ToLower(strings.ReplaceAll(strings.ReplaceAll(strings.ReplaceAll(s, "-", " "), "0", "o"), "1", "l"))
	if got, err := hoist.ParseChallenge(typed); err != nil || got != c {
		t.Fatalf("ParseChallenge(%q) = %+v, %v; want %+v", typed, got, err, c)
	}
}

// TestCheckCatchesEverySingleTypo: any one symbol changed to any other is
// refused, for many codes, in every position (check character included).
func TestCheckCatchesEverySingleTypo(t *testing.T) {
	f := func(v uint64) bool {
		code := letters(hoist.FormatCode(v))
		for i := range code {
			for _, r := range hoist.CodeAlphabet {
				if byte(r) == code[i] {
					continue
				}
				typo := append([]byte(nil), code...)
				typo[i] = byte(r)
				if _, err := hoist.ParseCode(string(typo), "code"); err == nil {
					t.Logf("%s accepted for %s", typo, code)
					return false
				}
			}
		}
		return true
	}
	if err := quick.Check(f, &quick.Config{MaxCount: 2000}); err != nil {
		t.Fatal(err)
	}
}

// TestCheckCatchesEveryAdjacentSwap: two different neighbours swapped
// are refused, in every position.
func TestCheckCatchesEveryAdjacentSwap(t *testing.T) {
	f := func(v uint64) bool {
		code := letters(hoist.FormatCode(v))
		for i := 0; i+1 < len(code); i++ {
			if code[i] == code[i+1] {
				continue
			}
			sw := append([]byte(nil), code...)
			sw[i], sw[i+1] = sw[i+1], sw[i]
			if _, err := hoist.ParseCode(string(sw), "code"); err == nil {
				t.Logf("%s accepted for %s", sw, code)
				return false
			}
		}
		return true
	}
	if err := quick.Check(f, &quick.Config{MaxCount: 5000}); err != nil {
		t.Fatal(err)
	}
}

func TestParseCodeRefusals(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"empty", "", "12 characters"},
		{"short", "ABCD-EFGH", "12 characters"},
		{"long", strings.Repeat("A", 13), "12 characters"},
		{"U", "UUUU-UUUU-UUUU", "other than U"},
		{"punctuation", "ABCD_EFGH_JKMN", "other than U"},
		{"huge", strings.Repeat("A", 1000), "12 characters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := hoist.ParseCode(tc.in, "response")
			if err == nil || hoist.ErrorCode(err) != hoist.EInvalid {
				t.Fatalf("got %v, want an invalid-input error", err)
			}
			var he *hoist.Error
			if e, ok := err.(*hoist.Error); ok {
				he = e
			}
			if he == nil || !strings.Contains(he.Fields["response"], tc.want) {
				t.Fatalf("got %v, want the response field to say %q", err, tc.want)
			}
		})
	}
}

func TestResponseBindsChallengeAndWindow(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	other := []byte("fedcba9876543210fedcba9876543210")
	c := hoist.NewChallenge("agt_a", "alice", 11, 777)
	r := hoist.Respond(key, c, 8)
	got, err := hoist.ParseResponse(r.String())
	if err != nil || got != r || got.Duration() != time.Hour {
		t.Fatalf("ParseResponse = %+v, %v; want %+v (1h)", got, err, r)
	}
	if !hoist.VerifyResponse(key, c, got) {
		t.Fatal("the response does not verify")
	}
	longer := got
	longer.Window = 11
	for name, bad := range map[string]bool{
		"another key":     hoist.VerifyResponse(other, c, got),
		"another user":    hoist.VerifyResponse(key, hoist.NewChallenge("agt_a", "bob", 11, 777), got),
		"another agent":   hoist.VerifyResponse(key, hoist.NewChallenge("agt_b", "alice", 11, 777), got),
		"another nonce":   hoist.VerifyResponse(key, hoist.NewChallenge("agt_a", "alice", 11, 778), got),
		"a longer window": hoist.VerifyResponse(key, c, longer),
	} {
		if bad {
			t.Errorf("%s: verified", name)
		}
	}
}

func TestOfflineWindow(t *testing.T) {
	for _, tc := range []struct {
		in, want time.Duration
	}{
		{time.Minute, time.Minute}, {45 * time.Minute, 45 * time.Minute}, {50 * time.Minute, 45 * time.Minute},
		{8 * time.Hour, 8 * time.Hour}, {30 * 24 * time.Hour, 168 * time.Hour},
	} {
		i, got, err := hoist.OfflineWindow(tc.in)
		if err != nil || got != tc.want || hoist.OfflineWindows[i] != got {
			t.Errorf("OfflineWindow(%s) = %d, %s, %v; want %s", tc.in, i, got, err, tc.want)
		}
	}
	if _, _, err := hoist.OfflineWindow(time.Second); hoist.ErrorCode(err) != hoist.EInvalid {
		t.Errorf("OfflineWindow(1s): %v, want invalid", err)
	}
}

// TestBundleCarriesEmergencyCodes: an agent's bundle holds the outstanding
// codes for it and its groups, and only those; they change its revision,
// and an agent reads them back, dropping malformed ones.
func TestBundleCarriesEmergencyCodes(t *testing.T) {
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	a := hoist.AgentRecord{ID: "agt_a", Hostname: "web-1", Version: hoist.Version}
	b, _ := hoist.BuildBundle(a, []hoist.ComputerGroup{hoist.ComputerGroup{Name: hoist.DefaultGroup}}, nil)
	before := b.Revision
	code := func(id, agent, group string, mutate func(*hoist.EmergencyCode)) hoist.EmergencyCode {
		c := hoist.EmergencyCode{ID: hoist.EmergencyIDPrefix + id, Hash: strings.Repeat("a", 64), Agent: agent, Group: group, Window: time.Hour,
			CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		if mutate != nil {
			mutate(&c)
		}
		return c
	}
	codes := []hoist.EmergencyCode{
		code("aaaaaaaaaaaaaaaa", "agt_a", "", nil),
		code("bbbbbbbbbbbbbbbb", "", b.Groups[0], nil),
		code("cccccccccccccccc", "agt_other", "", nil),
		code("dddddddddddddddd", "agt_a", "", func(c *hoist.EmergencyCode) { c.RevokedAt = now }),
		code("eeeeeeeeeeeeeeee", "agt_a", "", func(c *hoist.EmergencyCode) { c.UsedAt = now }),
		code("ffffffffffffffff", "agt_a", "", func(c *hoist.EmergencyCode) { c.ExpiresAt = now }),
		code("gggggggggggggggg", "", "another group", nil),
	}
	b.AddEmergency(codes, a.ID, now)
	var ids []string
	for _, e := range b.Emergency {
		ids = append(ids, e.ID)
	}
	if strings.Join(ids, ",") != "emc_aaaaaaaaaaaaaaaa,emc_bbbbbbbbbbbbbbbb" || b.Revision == before {
		t.Fatalf("the bundle carries %v (revision %s, was %s); want the agent's and its group's outstanding codes, in a new revision", ids, b.Revision, before)
	}
	data, _ := json.Marshal(b)
	data = []byte(strings.Replace(string(data), `"emergency":[`, `"emergency":[{"id":"emc_x","hash":"short","window":"1h"},`, 1))
	got, skipped, err := hoist.ParseBundle(data)
	if err != nil || len(skipped) != 0 || len(got.Emergency) != 2 || got.Emergency[0] != b.Emergency[0] {
		t.Fatalf("ParseBundle: %+v, %v, %v; want the two well-formed codes", got.Emergency, skipped, err)
	}
	none, _ := hoist.BuildBundle(a, []hoist.ComputerGroup{hoist.ComputerGroup{Name: hoist.DefaultGroup}}, nil)
	none.AddEmergency(nil, a.ID, now)
	if none.Revision != before {
		t.Errorf("a bundle without codes changed its revision: %s, was %s", none.Revision, before)
	}
}
