package control_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/control"
	"github.com/hoist-jit/hoist/sqlite"
	"github.com/hoist-jit/hoist/testenv"
)

const reviewRP, reviewOrigin = "console.example", "https://console.example"

var b64 = base64.RawURLEncoding

// softKey is a software authenticator with one P-256 credential.
type softKey struct {
	priv *ecdsa.PrivateKey
	id   []byte
}

func newSoftKey() *softKey {
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	return &softKey{priv: priv, id: id}
}

func challengeOf(t *testing.T, opts json.RawMessage) string {
	t.Helper()
	var o struct {
		Challenge string `json:"challenge"`
	}
	if err := json.Unmarshal(opts, &o); err != nil || o.Challenge == "" {
		t.Fatalf("options without a challenge: %s (%v)", opts, err)
	}
	return o.Challenge
}

func clientData(kind, challenge string) []byte {
	b, _ := json.Marshal(map[string]string{"type": kind, "challenge": challenge, "origin": reviewOrigin})
	return b
}

// register answers navigator.credentials.create with "none" attestation,
// the CBOR written by hand.
func (k *softKey) register(t *testing.T, opts json.RawMessage) []byte {
	rp := sha256.Sum256([]byte(reviewRP))
	pub, err := k.priv.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		t.Fatal(err)
	}
	x, y := pub[1:33], pub[33:65]
	cose := append([]byte{0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21, 0x58, 0x20}, x...)
	cose = append(append(cose, 0x22, 0x58, 0x20), y...)
	auth := append(rp[:], 0x45, 0, 0, 0, 0)
	auth = append(auth, make([]byte, 16)...) // aaguid
	auth = binary.BigEndian.AppendUint16(auth, uint16(len(k.id)))
	auth = append(append(auth, k.id...), cose...)
	att := []byte{0xa3, 0x63, 'f', 'm', 't', 0x64, 'n', 'o', 'n', 'e', 0x67, 'a', 't', 't', 'S', 't', 'm', 't', 0xa0,
		0x68, 'a', 'u', 't', 'h', 'D', 'a', 't', 'a', 0x59}
	att = binary.BigEndian.AppendUint16(att, uint16(len(auth)))
	att = append(att, auth...)
	out, _ := json.Marshal(map[string]any{"id": b64.EncodeToString(k.id), "rawId": b64.EncodeToString(k.id), "type": "public-key",
		"response": map[string]string{"clientDataJSON": b64.EncodeToString(clientData("webauthn.create", challengeOf(t, opts))),
			"attestationObject": b64.EncodeToString(att)}})
	return out
}

// assert answers navigator.credentials.get.
func (k *softKey) assert(t *testing.T, opts json.RawMessage, count uint32) []byte {
	rp := sha256.Sum256([]byte(reviewRP))
	auth := binary.BigEndian.AppendUint32(append(rp[:], 0x05), count)
	cd := clientData("webauthn.get", challengeOf(t, opts))
	sum := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte{}, auth...), sum[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, k.priv, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(map[string]any{"id": b64.EncodeToString(k.id), "rawId": b64.EncodeToString(k.id), "type": "public-key",
		"response": map[string]string{"clientDataJSON": b64.EncodeToString(cd), "authenticatorData": b64.EncodeToString(auth),
			"signature": b64.EncodeToString(sig)}})
	return out
}

// passkeyIDs is a server with passkeys on, JIT mode on web-01, and a
// startup policy that wants a passkey to approve.
func passkeyIDs(t *testing.T) *ids {
	t.Helper()
	store, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	clk := testenv.NewClock(time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC))
	svc, err := control.New(control.Config{Store: store, Settings: hoist.DefaultApprovalSettings(), Clock: clk.Now, Signer: grantSigner{key},
		Passkeys: control.PasskeyConfig{RPID: reviewRP, Origins: []string{reviewOrigin}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Seed(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Bootstrap(ctx, idsPassword); err != nil {
		t.Fatal(err)
	}
	f := &ids{svc: svc, clock: clk}
	f.admin = f.login(t, "admin")
	for _, name := range []string{"JIT Mode (Startup and Approval)", "JIT Mode", "JIT Mode (Child Processes)"} {
		if _, err := svc.SetPolicyActive(ctx, f.admin, name, true); err != nil {
			t.Fatal(err)
		}
	}
	f.web = hoist.AgentRecord{ID: hoist.NewID(hoist.AgentIDPrefix), Hostname: "web-01", Version: hoist.Version, OS: "linux", EnrolledAt: clk.Now(), LastSeen: clk.Now()}
	if err := store.Update(ctx, func(tx hoist.Tx) error { return tx.InsertAgent(ctx, f.web) }); err != nil {
		t.Fatal(err)
	}
	f.setStartup(t, func(s *hoist.JITStartup) { s.RequirePasskey = true })
	return f
}

// TestReviewStolenSessionRegistersItsOwnPasskey: the startup policy wants
// a passkey to approve. Whoever holds carol's login token alone (a stolen
// console cookie, an API token) registers a passkey of their own on her
// account — no fresh proof of her password or of her existing passkey is
// asked — and with it gives the step-up and approves. The step-up then
// protects against nothing a token thief cannot do.
func TestReviewStolenSessionRegistersItsOwnPasskey(t *testing.T) {
	f := passkeyIDs(t)
	svc := f.svc
	stolen := f.account(t, "carol", nil, nil) // only the token's actor
	f.clock.Add(control.FreshSignIn)          // a token stolen, as most are, some time after its sign-in

	thief := newSoftKey()
	opts, err := svc.BeginPasskeyRegistration(ctx, stolen)
	if hoist.ErrorCode(err) == hoist.EForbidden {
		t.Logf("registration refused: %v", err)
		return // fixed: a passkey is not added on the token alone
	} else if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.FinishPasskeyRegistration(ctx, stolen, "mine now", thief.register(t, opts)); err != nil {
		t.Logf("registration refused: %v", err)
		return // fixed: a passkey is not added on the token alone
	}
	r := f.file(t, "bob", time.Hour)
	d := control.Decision{IDs: []string{r.ID}, Window: "1h"}
	opts, err = svc.BeginStepUp(ctx, stolen, d)
	if err != nil {
		t.Fatal(err)
	}
	proof, err := svc.VerifyStepUp(ctx, stolen, d, thief.assert(t, opts, 1))
	if err != nil {
		t.Fatalf("step-up with the thief's passkey: %v", err)
	}
	res, err := svc.ApproveStepped(ctx, stolen, []string{r.ID}, time.Hour, "", proof)
	if err != nil || !res[0].OK {
		t.Fatalf("approve: %+v, %v", res, err)
	}
	t.Fatal("with carol's login token alone, a passkey of the thief's was registered on her account and approved a request whose policy wants a passkey")
}

// TestReviewStepUpBindsTheWindow: carol's passkey step-up is for 1h; the
// proof it makes must not approve the request for 8h, and it must not be
// taken twice.
func TestReviewStepUpBindsTheWindow(t *testing.T) {
	f := passkeyIDs(t)
	svc := f.svc
	carol := f.account(t, "carol", nil, nil)
	k := newSoftKey()
	opts, err := svc.BeginPasskeyRegistration(ctx, carol)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.FinishPasskeyRegistration(ctx, carol, "carol's key", k.register(t, opts)); err != nil {
		t.Fatal(err)
	}
	r := f.file(t, "bob", 8*time.Hour)
	d := control.Decision{IDs: []string{r.ID}, Window: "1h"}
	opts, err = svc.BeginStepUp(ctx, carol, d)
	if err != nil {
		t.Fatal(err)
	}
	answer := k.assert(t, opts, 1)
	proof, err := svc.VerifyStepUp(ctx, carol, d, answer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.VerifyStepUp(ctx, carol, d, answer); err == nil {
		t.Error("the same assertion was taken twice")
	}
	res, err := svc.ApproveStepped(ctx, carol, []string{r.ID}, 8*time.Hour, "", proof)
	if err == nil && res[0].OK {
		t.Fatalf("a step-up made for 1h approved the request for %s", res[0].Request.GrantedDuration)
	}
}
