package e2e_test

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/hoist-jit/hoist/testenv"
)

// netns is a network namespace the test made for hoistd, joined to the
// host by a veth pair with private addresses: the server listens on the
// host's end; blackhole routes cut the path, nftables drops packets on it.
type netns struct {
	t                   *testing.T
	name                string
	host, inside        string // veth names
	hostAddr, innerAddr string
}

func newNetns(t *testing.T) *netns {
	t.Helper()
	testenv.RequireRoot(t)
	for _, tool := range []string{"ip", "nft", "nsenter"} {
		_, err := exec.LookPath(tool)
		testenv.Require(t, err == nil, "needs "+tool+" (iproute2, nftables, util-linux)")
	}
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	id := hex.EncodeToString(b)
	n := &netns{t: t, name: "hoistf-" + id, host: "hfh" + id, inside: "hfi" + id,
		hostAddr: fmt.Sprintf("10.%d.%d.1", 200+int(b[0])%50, b[1]), innerAddr: fmt.Sprintf("10.%d.%d.2", 200+int(b[0])%50, b[1])}
	n.ip("netns", "add", n.name)
	t.Cleanup(func() {
		// Deleting the namespace deletes the veth inside it and its pair.
		if out, err := exec.Command("ip", "netns", "del", n.name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", n.name, err, out)
		}
	})
	n.ip("link", "add", n.host, "type", "veth", "peer", "name", n.inside)
	n.ip("link", "set", n.inside, "netns", n.name)
	n.ip("addr", "add", n.hostAddr+"/30", "dev", n.host)
	n.ip("link", "set", n.host, "up")
	n.ip("netns", "exec", n.name, "ip", "addr", "add", n.innerAddr+"/30", "dev", n.inside)
	n.ip("netns", "exec", n.name, "ip", "link", "set", n.inside, "up")
	n.ip("netns", "exec", n.name, "ip", "link", "set", "lo", "up")
	return n
}

func (n *netns) ip(args ...string) {
	n.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		n.t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// loss drops pct percent of the packets entering and leaving n (so of
// each direction of the path) with an nftables table of the test's own in
// n, at random (numgen random): real loss, which TCP retransmits over,
// where the kernel has no netem. 0 takes the table away; deleting the
// namespace would too.
func (n *netns) loss(pct int) {
	n.t.Helper()
	table := "hoistf_" + strings.TrimPrefix(n.name, "hoistf-")
	_ = n.nft("delete table inet " + table) // none yet is fine
	if pct == 0 {
		return
	}
	rules := fmt.Sprintf(`table inet %s {
	chain in { type filter hook input priority 0; policy accept; counter numgen random mod 100 < %d counter drop; }
	chain out { type filter hook output priority 0; policy accept; counter numgen random mod 100 < %d counter drop; }
}`, table, pct, pct)
	if err := n.nft(rules); err != nil {
		n.t.Fatalf("nft: %v", err)
	}
	n.t.Cleanup(func() { _ = n.nft("delete table inet " + table) })
}

// dropped returns how many packets loss has dropped so far, both ways,
// and how many it saw.
func (n *netns) dropped() (dropped, seen int) {
	n.t.Helper()
	out, err := exec.Command("nsenter", "--net=/run/netns/"+n.name, "nft", "list", "table", "inet", "hoistf_"+strings.TrimPrefix(n.name, "hoistf-")).CombinedOutput()
	if err != nil {
		n.t.Fatalf("nft list table: %v: %s", err, out)
	}
	// Each rule reads "counter packets SEEN bytes … numgen … counter
	// packets DROPPED bytes … drop".
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Split(line, "counter packets ")
		if len(f) != 3 {
			continue
		}
		var a, b int
		if _, err := fmt.Sscanf(f[1], "%d", &a); err == nil {
			seen += a
		}
		if _, err := fmt.Sscanf(f[2], "%d", &b); err == nil {
			dropped += b
		}
	}
	return dropped, seen
}

// nft runs an nft script in n.
func (n *netns) nft(script string) error {
	cmd := exec.Command("nsenter", "--net=/run/netns/"+n.name, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%v: %s", err, out)
	}
	return nil
}

// partition cuts the path both ways with blackhole routes to the other
// end's address (this kernel may lack netem); heal takes them away.
func (n *netns) partition() {
	n.t.Helper()
	n.ip("route", "add", "blackhole", n.innerAddr+"/32")
	n.ip("netns", "exec", n.name, "ip", "route", "add", "blackhole", n.hostAddr+"/32")
}

func (n *netns) heal() {
	n.t.Helper()
	n.ip("route", "del", "blackhole", n.innerAddr+"/32")
	n.ip("netns", "exec", n.name, "ip", "route", "del", "blackhole", n.hostAddr+"/32")
}

// waitFor polls cond until it holds, failing t after limit.
func waitFor(t *testing.T, what string, limit time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for deadline := start.Add(limit); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
	}
	return time.Since(start)
}

// netFleet is a server on the host's end of n and a hoistd in n.
func netFleet(t *testing.T, n *netns) (*admin, *hoistdProc) {
	ad, agent, _ := netFleetVia(t, n, 0, 0)
	return ad, agent
}

// netFleetVia is netFleet with hoistd reaching the server through a
// delayRelay on the host's end adding delay (plus up to jitter) each way,
// when delay is not 0.
func netFleetVia(t *testing.T, n *netns, delay, jitter time.Duration) (*admin, *hoistdProc, *delayRelay) {
	port := strings.TrimPrefix(freeAddr(t), "127.0.0.1:")
	s := startServerProc(t, t.TempDir(), n.hostAddr+":"+port, "", "--host", n.hostAddr)
	ad := s.admin()
	ad.enableJIT()
	via, relay := s, (*delayRelay)(nil)
	if delay > 0 {
		relay = startDelayRelay(t, n.hostAddr+":0", s.addr, delay, jitter)
		c := *s // the same server, reached at the relay's address
		c.addr = relay.addr()
		via = &c
	}
	// nsenter joins only the network namespace: ip netns exec would mount a
	// fresh /sys over the cgroup file system hoistd needs.
	return ad, newHoistd(t, via, ad.enrollToken(), "", "nsenter", "--net=/run/netns/"+n.name), relay
}

// TestFaultNetworkLossy: over a path that loses packets each way (nftables
// in hoistd's namespace) and is slow (a TCP relay adding delay, layer 4:
// this kernel has no netem), a request is approved and reaches the agent,
// an elevated program's record reaches the server once, and a revoke ends
// the session.
func TestFaultNetworkLossy(t *testing.T) {
	n := newNetns(t)
	const delay, jitter, lossPct = 100 * time.Millisecond, 20 * time.Millisecond, 10
	ad, agent, relay := netFleetVia(t, n, delay, jitter)
	u := testenv.NewUser(t)
	n.loss(lossPct)
	id := agent.request(u, "--for 1h --reason lossy")
	ad.must("POST", "/api/v1/requests/approve", map[string]any{"ids": []string{id}, "duration": "1h"}, nil)
	took := waitFor(t, "a session over a lossy path", 3*time.Minute, func() bool { return agent.status(u).State == "active" })
	figure(t, "net.lossy.approve", "approval to active over %s (+0 to %s) layer-4 delay and %d%% packet loss each way: %s", delay, jitter, lossPct, took.Round(10*time.Millisecond))
	sid := agent.status(u).SessionID
	if code, out, errOut := agent.sh(u, "hoist run -- echo lossy"); code != 0 || out != "lossy\n" {
		t.Fatalf("hoist run over a lossy path: %d %q %q", code, out, errOut)
	}
	ran := time.Now()
	commands := func() int {
		k := 0
		for _, r := range ad.audit() {
			if r.Action == "agent.command.started" && r.Subject == sid && strings.Contains(string(r.Detail), "lossy") {
				k++
			}
		}
		return k
	}
	waitFor(t, "the program's record over a lossy path", 3*time.Minute, func() bool { return commands() > 0 })
	figure(t, "net.lossy.record", "an elevated program's record reached the server %s after it ran", time.Since(ran).Round(10*time.Millisecond))
	ad.must("POST", "/api/v1/sessions/revoke", map[string]any{"ids": []string{sid}, "reason": "fault suite"}, nil)
	took = waitFor(t, "the revoke over a lossy path", 3*time.Minute, func() bool { return agent.status(u).State != "active" })
	figure(t, "net.lossy.revoke", "a revoke ended the session %s after it was made", took.Round(10*time.Millisecond))
	waitFor(t, "the session's end over a lossy path", 3*time.Minute, func() bool {
		_, ns := byAction(ad.audit())
		return ns["agent.session.ended "+sid] > 0
	})
	if k := commands(); k != 1 {
		t.Errorf("the program's record is on the server %d times, want once", k)
	}
	// Traffic enough that the loss shows in the counters whatever hoistd
	// sent: ten fetches of /healthz from hoistd's namespace, at once.
	probe := exec.Command("nsenter", "--net=/run/netns/"+n.name, "/bin/sh", "-c",
		"for i in 1 2 3 4 5 6 7 8 9 10; do curl -sk --max-time 90 -o /dev/null https://"+relay.addr()+"/healthz & done; wait")
	if out, err := probe.CombinedOutput(); err != nil {
		t.Errorf("fetches over the lossy path: %v: %s", err, out)
	}
	dropped, seen := n.dropped()
	figure(t, "net.lossy.dropped", "%d of %d packets dropped on the path, %d connections through the relay", dropped, seen, relay.conns.Load())
	if dropped == 0 && seen >= 200 {
		t.Errorf("none of %d packets was dropped: the loss is not on the path", seen)
	}
	n.loss(0)
}

// TestFaultNetworkPartition puts hoistd in a network namespace of its own
// and cuts the path to the server both ways, then heals it. Sessions end
// on time while cut off, the long poll recovers after the heal, the events
// queued meanwhile arrive once and in order, an approval made during the
// partition activates on the heal, and one whose window passed during it
// does not.
func TestFaultNetworkPartition(t *testing.T) {
	n := newNetns(t)
	ad, agent := netFleet(t, n)
	cut, late, short := testenv.NewUser(t), testenv.NewUser(t), testenv.NewUser(t)
	approve := func(id, d string) {
		t.Helper()
		ad.must("POST", "/api/v1/requests/approve", map[string]any{"ids": []string{id}, "duration": d}, nil)
	}

	// Before the partition: a short session with a program in it, and two
	// requests waiting for their decisions.
	id := agent.request(cut, "--for 1h --reason cut")
	approve(id, "8s")
	testenv.WaitUntil(t, "the session before the cut", func() bool { return agent.status(cut).State == "active" })
	sid := agent.status(cut).SessionID
	lateID := agent.request(late, "--for 1h --reason late")
	shortID := agent.request(short, "--for 1h --reason short")

	n.partition()
	cutAt := time.Now()
	// Cut off: programs still run (recorded locally) and the session ends
	// on time by the agent's own clock.
	for i := range 3 {
		if code, out, errOut := agent.sh(cut, fmt.Sprintf("hoist run -- echo %d", i)); code != 0 || out != fmt.Sprintf("%d\n", i) {
			t.Errorf("hoist run while cut off: %d %q %q", code, out, errOut)
		}
	}
	testenv.WaitUntil(t, "the session to end while cut off", func() bool { return agent.status(cut).State != "active" })
	// Decisions made while the agent cannot hear them.
	approve(lateID, "1h")
	approve(shortID, "2s")
	time.Sleep(3 * time.Second) // the partition lasts past the short window: the fault, not a wait
	n.heal()
	healed := time.Now()
	figure(t, "net.partition", "partitioned for %s", healed.Sub(cutAt).Round(10*time.Millisecond))

	took := waitFor(t, "the approval made during the partition to activate after the heal", 3*time.Minute, func() bool { return agent.status(late).State == "active" })
	figure(t, "net.heal", "an approval made during the partition activated %s after the heal", took.Round(10*time.Millisecond))
	if st := agent.status(short); st.State == "active" {
		t.Errorf("an approval whose window passed during the partition activated: %+v", st)
	}
	var recs []int64
	waitFor(t, "the events queued while cut off", 3*time.Minute, func() bool {
		recs = recs[:0]
		for _, r := range ad.audit() {
			// The change report is the last thing the session sends.
			if r.Subject == sid && r.Action == "agent.session.changes" {
				recs = append(recs, r.Seq)
			}
		}
		return len(recs) > 0
	})
	figure(t, "net.outbox", "the events queued while cut off arrived %s after the heal", (time.Since(healed)).Round(10*time.Millisecond))
	// Once each, and in the order they happened.
	var order []string
	for _, r := range ad.audit() {
		switch {
		case r.Subject == sid && r.Action == "agent.session.commands":
			// The kernel's exec record: batched by time, so how many
			// batches a session makes is not the test's to fix.
		case r.Subject == sid && strings.HasPrefix(r.Action, "agent.session."):
			order = append(order, r.Action)
		case r.Action == "agent.command.started" && strings.Contains(string(r.Detail), "echo"):
			order = append(order, r.Action)
		}
	}
	// The change report comes after the end: it compares the machine after
	// every process of the session ended.
	want := "agent.session.started agent.command.started agent.command.started agent.command.started agent.session.ended agent.session.changes"
	if got := strings.Join(order, " "); got != want {
		t.Errorf("the cut-off session's records on the server:\n got %s\nwant %s", got, want)
	}
	if st := agent.status(short); st.State == "active" {
		t.Errorf("an approval whose window passed during the partition activated: %+v", st)
	}
}
