package hoist

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// Offline approval: a machine that cannot reach its server shows the user
// a short challenge code; the user reads it to an approver, whose server
// answers with a response code; hoistd checks the response on its own and
// starts an ordinary JIT session. docs/offline.md explains the scheme and
// its guessing bound.
//
// Both codes are CodeChars characters of the code alphabet: CodeDataChars
// carrying 5 bits each (55 bits) and one check character. Read aloud they
// are three groups of four ("K7QF-2M9X-ZR4D").

// CodeAlphabet is the 32 symbols of a code: digits and capital letters
// without I, L, O and U, which are read as 1, 1, 0 or not at all.
const CodeAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// Code sizes.
const (
	CodeDataChars = 11
	CodeChars     = CodeDataChars + 1
	// codeBits is what the data characters carry.
	codeBits = 5 * CodeDataChars
)

// The fields of a challenge's 55 bits, from the top.
const (
	challengeAgentBits  = 20
	challengeUserBits   = 12
	challengeWindowBits = 5
	challengeNonceBits  = codeBits - challengeAgentBits - challengeUserBits - challengeWindowBits // 18
	// responseMACBits is a response's MAC; the rest is the approved window.
	responseMACBits = codeBits - challengeWindowBits // 50
)

// OfflineKeySize is the length of an agent's offline key.
const OfflineKeySize = 32

// ChallengeMaxAge is how long a challenge can be answered.
const ChallengeMaxAge = time.Hour

// OfflineWindows are the windows a challenge can ask for and a response
// approve: a window is sent as its index in this table (5 bits), so a
// requested duration is rounded down to one of these.
var OfflineWindows = [32]time.Duration{
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 20 * time.Minute, 30 * time.Minute, 45 * time.Minute,
	time.Hour, 75 * time.Minute, 90 * time.Minute, 2 * time.Hour, 150 * time.Minute, 3 * time.Hour, 210 * time.Minute, 4 * time.Hour,
	5 * time.Hour, 6 * time.Hour, 7 * time.Hour, 8 * time.Hour, 9 * time.Hour, 10 * time.Hour, 12 * time.Hour, 14 * time.Hour,
	16 * time.Hour, 18 * time.Hour, 20 * time.Hour, 24 * time.Hour, 36 * time.Hour, 48 * time.Hour, 72 * time.Hour, 168 * time.Hour,
}

// OfflineWindow returns the index of the longest window in OfflineWindows
// not longer than d, and that window; EInvalid, naming "duration", when d
// is shorter than the shortest.
func OfflineWindow(d time.Duration) (int, time.Duration, error) {
	if d < OfflineWindows[0] {
		return 0, 0, FieldErrors{"duration": "at least 1m for an offline approval"}.err("the duration")
	}
	i := len(OfflineWindows) - 1
	for OfflineWindows[i] > d {
		i--
	}
	return i, OfflineWindows[i], nil
}

// Challenge is what a challenge code carries. Agent and User are tags —
// the leading bits of a hash of the agent's id and of the user's name —
// enough for a server to name the machine and the user, and for hoistd,
// which keeps the challenge it made, to bind the response to them.
type Challenge struct {
	Agent  uint32 // challengeAgentBits
	User   uint32 // challengeUserBits
	Window int    // index in OfflineWindows
	Nonce  uint32 // challengeNonceBits, fresh for each challenge
}

// AgentTag is the agent field of the challenges of the agent with id.
func AgentTag(agentID string) uint32 { return tag("hoist-offline-agent\n"+agentID, challengeAgentBits) }

// UserTag is the user field of the challenges of the user name.
func UserTag(user string) uint32 { return tag("hoist-offline-user\n"+user, challengeUserBits) }

func tag(s string, bits int) uint32 {
	sum := sha256.Sum256([]byte(s))
	return binary.BigEndian.Uint32(sum[:4]) >> (32 - bits)
}

// NewChallenge is the challenge of the user on the agent for the window
// at index window, with nonce (its low challengeNonceBits bits are used).
func NewChallenge(agentID, user string, window int, nonce uint32) Challenge {
	return Challenge{Agent: AgentTag(agentID), User: UserTag(user), Window: window, Nonce: nonce & (1<<challengeNonceBits - 1)}
}

// Duration is the window the challenge asks for.
func (c Challenge) Duration() time.Duration { return OfflineWindows[c.Window&31] }

// value packs c into its 55 bits.
func (c Challenge) value() uint64 {
	v := uint64(c.Agent & (1<<challengeAgentBits - 1))
	v = v<<challengeUserBits | uint64(c.User&(1<<challengeUserBits-1))
	v = v<<challengeWindowBits | uint64(c.Window&31)
	return v<<challengeNonceBits | uint64(c.Nonce&(1<<challengeNonceBits-1))
}

// String is the challenge code, grouped.
func (c Challenge) String() string { return FormatCode(c.value()) }

// ParseChallenge reads a challenge code as a person typed it (see
// ParseCode).
func ParseChallenge(s string) (Challenge, error) {
	v, err := ParseCode(s, "challenge")
	if err != nil {
		return Challenge{}, err
	}
	return Challenge{
		Nonce:  uint32(v & (1<<challengeNonceBits - 1)),
		Window: int(v >> challengeNonceBits & 31),
		User:   uint32(v >> (challengeNonceBits + challengeWindowBits) & (1<<challengeUserBits - 1)),
		Agent:  uint32(v >> (challengeNonceBits + challengeWindowBits + challengeUserBits)),
	}, nil
}

// Response is the approver's answer to a challenge: the approved window
// and a MAC, with the agent's offline key, over the challenge and that
// window.
type Response struct {
	Window int
	MAC    uint64 // responseMACBits
}

// String is the response code, grouped.
func (r Response) String() string { return FormatCode(r.Value()) }

// Value is the response's 55 bits, as ParseCode reads any code: the
// value of an emergency code typed where a response goes.
func (r Response) Value() uint64 {
	return uint64(r.Window&31)<<responseMACBits | r.MAC&(1<<responseMACBits-1)
}

// Duration is the window the response approves.
func (r Response) Duration() time.Duration { return OfflineWindows[r.Window&31] }

// ParseResponse reads a response code as a person typed it.
func ParseResponse(s string) (Response, error) {
	v, err := ParseCode(s, "response")
	if err != nil {
		return Response{}, err
	}
	return Response{Window: int(v >> responseMACBits), MAC: v & (1<<responseMACBits - 1)}, nil
}

// Respond is the response approving the window at index window for c,
// made with the agent's offline key.
func Respond(key []byte, c Challenge, window int) Response {
	return Response{Window: window & 31, MAC: offlineMAC(key, c, window&31)}
}

// offlineMAC is the truncated HMAC-SHA256 of the challenge's bits and the
// approved window, under a label that no other use of the key shares.
func offlineMAC(key []byte, c Challenge, window int) uint64 {
	m := hmac.New(sha256.New, key)
	var msg [8 + 1]byte
	binary.BigEndian.PutUint64(msg[:8], c.value())
	msg[8] = byte(window)
	m.Write([]byte("hoist-offline-response-v1\n"))
	m.Write(msg[:])
	return binary.BigEndian.Uint64(m.Sum(nil)[:8]) >> (64 - responseMACBits)
}

// VerifyResponse reports whether r is the response made with key for c
// (in constant time); the caller checks r's window against what was
// asked.
func VerifyResponse(key []byte, c Challenge, r Response) bool {
	want := Respond(key, c, r.Window)
	var a, b [8]byte
	binary.BigEndian.PutUint64(a[:], want.MAC)
	binary.BigEndian.PutUint64(b[:], r.MAC)
	return hmac.Equal(a[:], b[:])
}

// FormatCode spells the low 55 bits of v as a code: 11 data characters,
// most significant first, then the check character, in groups of four.
func FormatCode(v uint64) string {
	var d [CodeChars]byte
	for i := CodeDataChars - 1; i >= 0; i-- {
		d[i] = byte(v & 31)
		v >>= 5
	}
	d[CodeDataChars] = checkSymbol(d[:CodeDataChars])
	var b strings.Builder
	for i, x := range d {
		if i > 0 && i%4 == 0 {
			b.WriteByte('-')
		}
		b.WriteByte(CodeAlphabet[x])
	}
	return b.String()
}

// maxCodeInput bounds what ParseCode looks at: a code with a separator
// between every character and some slack.
const maxCodeInput = 64

// ParseCode reads a code as a person typed it: case does not matter,
// dashes and spaces are ignored, I and L are read as 1 and O as 0. It
// fails with EInvalid, naming the field what ("challenge", "response",
// "code"), for anything but CodeChars symbols whose check character holds.
func ParseCode(s, what string) (uint64, error) {
	bad := func(why string) (uint64, error) { return 0, FieldErrors{what: why}.err("the " + what) }
	if len(s) > maxCodeInput {
		return bad(fmt.Sprintf("%d characters, such as K7QF-2M9X-ZR4D", CodeChars))
	}
	var d []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '-' || c == ' ' {
			continue
		}
		x, ok := symbol(c)
		if !ok {
			return bad("only digits and letters other than U; dashes and spaces are ignored")
		}
		d = append(d, x)
	}
	if len(d) != CodeChars {
		return bad(fmt.Sprintf("%d characters, not %d (dashes and spaces are ignored)", CodeChars, len(d)))
	}
	if checkSymbol(d[:CodeDataChars]) != d[CodeDataChars] {
		return bad("a character is mistyped (the check character does not match): read it again")
	}
	var v uint64
	for _, x := range d[:CodeDataChars] {
		v = v<<5 | uint64(x)
	}
	return v, nil
}

// symbol is the value of one typed character.
func symbol(c byte) (byte, bool) {
	if c >= 'a' && c <= 'z' {
		c -= 'a' - 'A'
	}
	switch c {
	case 'I', 'L':
		c = '1'
	case 'O':
		c = '0'
	}
	i := strings.IndexByte(CodeAlphabet, c)
	return byte(i), i >= 0
}

// checkSymbol is the check character of data: the sum, in GF(32), of each
// symbol times its own power of a primitive element. The full code then
// sums to zero with the check character weighted 1. As every weight is
// non-zero and the weights are distinct, a change of one symbol, and a
// swap of two different neighbours (the check character included), always
// changes the sum: every single typo and adjacent transposition is caught.
func checkSymbol(data []byte) byte {
	var sum byte
	w := byte(1)
	for i := len(data) - 1; i >= 0; i-- {
		w = gf32Mul(w, 2) // α^(distance from the check character)
		sum ^= gf32Mul(w, data[i]&31)
	}
	return sum
}

// gf32Mul multiplies in GF(2^5) modulo x^5 + x^2 + 1, whose root 2 (x) is
// primitive: its powers α^1 … α^31 are the 31 non-zero elements.
func gf32Mul(a, b byte) byte {
	var p byte
	for b > 0 {
		if b&1 != 0 {
			p ^= a
		}
		b >>= 1
		a <<= 1
		if a&32 != 0 {
			a ^= 0x25
		}
	}
	return p & 31
}

// OfflineKeyRecord is an agent's offline key as the server keeps it.
type OfflineKeyRecord struct {
	AgentID string `json:"agent_id"`
	// Key is the key as stored: sealed with the server's secret key
	// where it has one.
	Key string `json:"key"`
	// KeyID names the key without giving it away (OfflineKeyID); the
	// agent acknowledges delivery with it.
	KeyID     string    `json:"key_id"`
	CreatedAt time.Time `json:"created_at"`
	// DeliveredAt is when the agent acknowledged the key; from then on the
	// server never sends it again.
	DeliveredAt time.Time `json:"delivered_at,omitzero"`
}

// OfflineKeyID is the public name of an offline key: the first 8 bytes of
// a labelled SHA-256 of it, in hex.
func OfflineKeyID(key []byte) string {
	sum := sha256.Sum256(append([]byte("hoist-offline-key-id\n"), key...))
	return fmt.Sprintf("%x", sum[:8])
}

// EmergencyIDPrefix marks emergency code ids.
const EmergencyIDPrefix = "emc_"

// EmergencyWindow is the fixed window an emergency code grants.
const EmergencyWindow = time.Hour

// EmergencyCode is a one-time code an admin issued for a machine or a
// computer group, for when no approver can be reached. Only the hash of
// its value is kept (EmergencyCodeHash).
type EmergencyCode struct {
	ID   string `json:"id"`
	Hash string `json:"hash"`
	// Agent or Group is what it is for (an agent id or a group name).
	Agent     string        `json:"agent,omitempty"`
	Group     string        `json:"group,omitempty"`
	Window    time.Duration `json:"window"`
	CreatedBy string        `json:"created_by"`
	CreatedAt time.Time     `json:"created_at"`
	ExpiresAt time.Time     `json:"expires_at"`
	RevokedBy string        `json:"revoked_by,omitempty"`
	RevokedAt time.Time     `json:"revoked_at,omitzero"`
	// UsedAt, UsedOn (an agent id) and UsedBy (the user) are what the
	// agent reported of its use.
	UsedAt  time.Time `json:"used_at,omitzero"`
	UsedOn  string    `json:"used_on,omitempty"`
	UsedBy  string    `json:"used_by,omitempty"`
	Version int       `json:"version"`
}

// Outstanding reports whether the code can still be used at now.
func (c EmergencyCode) Outstanding(now time.Time) bool {
	return c.RevokedAt.IsZero() && c.UsedAt.IsZero() && now.Before(c.ExpiresAt)
}

// EmergencyCodeHash is the hex SHA-256 of a code's value (the 55 bits
// ParseCode returns), as servers and agents keep it.
func EmergencyCodeHash(v uint64) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	sum := sha256.Sum256(append([]byte("hoist-emergency-code\n"), b[:]...))
	return fmt.Sprintf("%x", sum)
}

// EmergencyEntry is an emergency code as agents get it in their bundle.
type EmergencyEntry struct {
	ID     string   `json:"id"`
	Hash   string   `json:"hash"`
	Window Duration `json:"window"`
	// ExpiresAt is when the code expires; an agent refuses it from then
	// on, offline too. Zero from a server older than it: the code is
	// taken until the server drops it.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// MaxEmergencyEntries bounds the codes a bundle carries.
const MaxEmergencyEntries = 1000

// AddEmergency puts into b the codes of codes outstanding at now for
// agentID or one of b's groups, and makes the revision cover them.
func (b *Bundle) AddEmergency(codes []EmergencyCode, agentID string, now time.Time) {
	b.Emergency = nil
	for _, c := range codes {
		if !c.Outstanding(now) || (c.Agent != agentID && (c.Group == "" || !slices.Contains(b.Groups, c.Group))) {
			continue
		}
		if len(b.Emergency) < MaxEmergencyEntries {
			b.Emergency = append(b.Emergency, EmergencyEntry{ID: c.ID, Hash: c.Hash, Window: Duration(c.Window), ExpiresAt: c.ExpiresAt})
		}
	}
	sort.Slice(b.Emergency, func(i, j int) bool { return b.Emergency[i].ID < b.Emergency[j].ID })
	b.Revision = b.digest()
}

// parseEmergency reads a bundle's emergency codes, keeping only
// well-formed ones with a window an agent grants; a list that is no list
// is reported as skipped.
func parseEmergency(data json.RawMessage) ([]EmergencyEntry, *SkippedPolicy) {
	var in []EmergencyEntry
	if err := json.Unmarshal(data, &in); err != nil {
		return nil, &SkippedPolicy{Name: "emergency codes", Reason: "cannot read them: " + err.Error()}
	}
	var out []EmergencyEntry
	for _, e := range in[:min(len(in), MaxEmergencyEntries)] {
		if ValidID(EmergencyIDPrefix, e.ID) && len(e.Hash) == 64 && e.Window.D() > 0 && e.Window.D() <= MaxEmergencyWindow {
			out = append(out, e)
		}
	}
	return out, nil
}

// MaxEmergencyWindow is the longest window an emergency code may grant.
const MaxEmergencyWindow = 4 * time.Hour

// State is the code's state at now: outstanding, used, revoked or
// expired.
func (c EmergencyCode) State(now time.Time) string {
	switch {
	case !c.UsedAt.IsZero():
		return "used"
	case !c.RevokedAt.IsZero():
		return "revoked"
	case !now.Before(c.ExpiresAt):
		return "expired"
	}
	return "outstanding"
}
