package agent_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/agent"
)

// bundleRig is an agent on a state directory of its own, restarted at
// will, with the key pair a server would sign its bundles with.
type bundleRig struct {
	t     *testing.T
	state string
	pub   ed25519.PublicKey
	priv  ed25519.PrivateKey
	agent *agent.Agent
}

func newBundleRig(t *testing.T) *bundleRig {
	pub, priv, _ := ed25519.GenerateKey(nil)
	r := &bundleRig{t: t, state: t.TempDir(), pub: pub, priv: priv}
	r.start(pub)
	t.Cleanup(func() { r.agent.Close() })
	return r
}

// start starts the agent as hoistd does, pinning key when it is not nil.
func (r *bundleRig) start(key ed25519.PublicKey) {
	r.t.Helper()
	a, err := agent.New(agent.Config{StateDir: r.state})
	if err != nil {
		r.t.Fatal(err)
	}
	if key != nil {
		a.SetBundleKey(key)
	}
	r.agent = a
}

func (r *bundleRig) restart(key ed25519.PublicKey) {
	r.t.Helper()
	r.agent.Close()
	r.start(key)
}

// rejections are the policy.bundle_rejected events queued for the server.
func (r *bundleRig) rejections() []agent.Event {
	r.t.Helper()
	evs, _, err := r.agent.Outbox().Pending(1000, 1<<20)
	if err != nil {
		r.t.Fatal(err)
	}
	var out []agent.Event
	for _, ev := range evs {
		if ev.Action == "policy.bundle_rejected" {
			out = append(out, ev)
		}
	}
	return out
}

func (r *bundleRig) policyFile() string { return filepath.Join(r.state, "policy.json") }

// elevating is a bundle that elevates path for everyone.
func elevating(revision, path string) hoist.Bundle {
	return hoist.Bundle{Revision: revision, Groups: []string{hoist.DefaultGroup}, Policies: []hoist.Policy{{
		ID: "pol_" + revision, Name: "Elevate " + path, Kind: hoist.KindApplication, Groups: []string{hoist.DefaultGroup}, Active: true,
		Application: &hoist.ApplicationRule{Path: path, Action: hoist.ActionElevate}}}}
}

func inForce(a *agent.Agent) []string {
	var paths []string
	for _, p := range a.Bundle().Policies {
		paths = append(paths, p.Application.Path)
	}
	return paths
}

// TestPolicyBundleFromTheServer: a bundle is put in force only with the
// pinned key's signature over exactly its bytes; a refused one is audited
// and leaves the bundle in force as it was.
func TestPolicyBundleFromTheServer(t *testing.T) {
	r := newBundleRig(t)
	data, sig, err := hoist.SignBundle(r.priv, elevating("r1", "/usr/bin/id"))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.agent.ApplyBundle(data, sig); err != nil {
		t.Fatalf("a signed bundle: %v", err)
	}
	if got := inForce(r.agent); len(got) != 1 || got[0] != "/usr/bin/id" {
		t.Fatalf("in force after a signed bundle: got %v, want /usr/bin/id", got)
	}
	_, otherKey, _ := ed25519.GenerateKey(nil)
	widened, _ := json.Marshal(elevating("r1", "/bin/sh"))
	_, forged, _ := hoist.SignBundle(otherKey, elevating("r1", "/bin/sh"))
	for _, tc := range []struct {
		name      string
		data, sig []byte
	}{
		{"unsigned", widened, nil},
		{"signed by another key", widened, forged},
		{"another bundle under a real signature", widened, sig},
		{"re-encoded after signing", append([]byte(" "), data...), sig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(r.rejections())
			if err := r.agent.ApplyBundle(tc.data, tc.sig); hoist.ErrorCode(err) != hoist.EForbidden {
				t.Fatalf("ApplyBundle: got %v, want a %s error", err, hoist.EForbidden)
			}
			if got := inForce(r.agent); len(got) != 1 || got[0] != "/usr/bin/id" {
				t.Errorf("in force after the refusal: got %v, want /usr/bin/id still", got)
			}
			if got := len(r.rejections()); got != before+1 {
				t.Errorf("policy.bundle_rejected events: got %d, want %d", got, before+1)
			}
		})
	}
	// The link asks again after a refusal, and gets the same bundle: it is
	// refused again, but audited once.
	before := len(r.rejections())
	for range 3 {
		if err := r.agent.ApplyBundle(widened, forged); hoist.ErrorCode(err) != hoist.EForbidden {
			t.Fatalf("the forged bundle again: got %v, want a %s error", err, hoist.EForbidden)
		}
	}
	if got := len(r.rejections()); got != before+1 {
		t.Errorf("policy.bundle_rejected events for one bundle sent three times: got %d, want 1", got-before)
	}
}

// TestPolicyBundleOnDisk: the stored bundle holds across a restart only
// while it is the one the server signed. Root adding an elevate rule and
// keeping the revision, an unsigned bundle from before signatures, or a
// bundle checked against another key: each is refused and reported at
// start, and nothing of it is in force.
func TestPolicyBundleOnDisk(t *testing.T) {
	r := newBundleRig(t)
	data, sig, err := hoist.SignBundle(r.priv, elevating("r1", "/usr/bin/id"))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.agent.ApplyBundle(data, sig); err != nil {
		t.Fatal(err)
	}
	genuine, err := os.ReadFile(r.policyFile())
	if err != nil {
		t.Fatal(err)
	}
	r.restart(r.pub)
	if got := inForce(r.agent); len(got) != 1 || got[0] != "/usr/bin/id" {
		t.Fatalf("after a restart: got %v in force, want /usr/bin/id", got)
	}
	if got := r.rejections(); len(got) != 0 {
		t.Fatalf("after a restart with the genuine bundle: got rejections %+v, want none", got)
	}
	r.restart(nil)
	if got := inForce(r.agent); len(got) != 0 {
		t.Errorf("before the key is pinned: got %v in force, want nothing", got)
	}

	var stored map[string]json.RawMessage
	if err := json.Unmarshal(genuine, &stored); err != nil {
		t.Fatal(err)
	}
	widened := bytes.Replace(genuine, []byte(`"path":"/usr/bin/id"`), []byte(`"path":"/bin/sh"`), 1)
	otherPub, _, _ := ed25519.GenerateKey(nil)
	for _, tc := range []struct {
		name   string
		stored []byte
		key    ed25519.PublicKey
		reason string
	}{
		{"an elevate rule edited in", widened, r.pub, "signature does not verify"},
		{"a bundle without a signature (as hoistd wrote before)", stored["bundle"], r.pub, "not signed"},
		{"checked against another key", genuine, otherPub, "signature does not verify"},
		{"not JSON", []byte("{"), r.pub, "unreadable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(r.policyFile(), tc.stored, 0o600); err != nil {
				t.Fatal(err)
			}
			before := len(r.rejections())
			r.restart(tc.key)
			if got := inForce(r.agent); len(got) != 0 {
				t.Errorf("in force: got %v, want nothing", got)
			}
			if rev, _ := r.agent.PolicyState(); rev != "" {
				t.Errorf("revision held: got %q, want none, so that the server sends its bundle", rev)
			}
			rej := r.rejections()
			if len(rej) != before+1 {
				t.Fatalf("policy.bundle_rejected events after the restart: got %d, want %d", len(rej), before+1)
			}
			last := rej[len(rej)-1]
			if got, _ := last.Detail["reason"].(string); !strings.Contains(got, tc.reason) || last.Detail["from"] != "disk" {
				t.Errorf("the rejection: got %+v, want from disk, a reason with %q", last.Detail, tc.reason)
			}
			if !bytes.Equal(tc.key, r.pub) {
				return
			}
			// The server's bundle is taken again, and stored for the next
			// start.
			if err := r.agent.ApplyBundle(data, sig); err != nil {
				t.Fatal(err)
			}
			r.restart(r.pub)
			if got := inForce(r.agent); len(got) != 1 || got[0] != "/usr/bin/id" {
				t.Errorf("after the server's bundle and a restart: got %v in force, want /usr/bin/id", got)
			}
		})
	}
}
