package agent_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hoist-jit/hoist/testenv"
)

// systemBusSocket is where pkexec looks for the system bus: it is set-uid,
// so GLib ignores DBUS_SYSTEM_BUS_ADDRESS in it, and a private bus at
// another path cannot be used.
const systemBusSocket = "/run/dbus/system_bus_socket"

// startSystemBus makes sure a system D-Bus answers at systemBusSocket:
// the machine's when one runs, else one this test starts with the system's
// own configuration and stops, by pid, when it ends.
func startSystemBus(t *testing.T) {
	t.Helper()
	if c, err := net.Dial("unix", systemBusSocket); err == nil {
		c.Close()
		return
	}
	_, err := exec.LookPath("dbus-daemon")
	testenv.Require(t, err == nil, "needs dbus-daemon (scripts/test installs dbus)")
	_ = os.Remove(systemBusSocket) // a dead bus's socket: nothing answers on it
	if err := os.MkdirAll(filepath.Dir(systemBusSocket), 0o755); err != nil {
		t.Fatal(err)
	}
	bus := exec.Command("dbus-daemon", "--system", "--nofork", "--nopidfile")
	if err := bus.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = bus.Process.Kill()
		_ = bus.Wait()
		_ = os.Remove(systemBusSocket) // dbus-daemon leaves it behind
	})
	testenv.WaitUntil(t, "the system bus to answer", func() bool {
		c, err := net.Dial("unix", systemBusSocket)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

// startPolkitd makes sure polkitd serves the system bus: the one running,
// else one this test starts (as root: it changes to its own user) and
// stops by pid.
func startPolkitd(t *testing.T) {
	t.Helper()
	const polkitd = "/usr/lib/polkit-1/polkitd"
	_, err := os.Stat(polkitd)
	testenv.Require(t, err == nil, "needs polkitd (scripts/test installs it)")
	_, err = exec.LookPath("pkexec")
	testenv.Require(t, err == nil, "needs pkexec (scripts/test installs it)")
	startSystemBus(t)
	if polkitServes() {
		return
	}
	p := exec.Command(polkitd, "--no-debug")
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Process.Kill(); _ = p.Wait() })
	testenv.WaitUntil(t, "polkitd to own its name on the bus", polkitServes)
}

// polkitServes says whether org.freedesktop.PolicyKit1 has an owner.
func polkitServes() bool {
	out, err := exec.Command("dbus-send", "--system", "--print-reply", "--dest=org.freedesktop.DBus",
		"/org/freedesktop/DBus", "org.freedesktop.DBus.NameHasOwner", "string:org.freedesktop.PolicyKit1").Output()
	return err == nil && strings.Contains(string(out), "boolean true")
}

// pkexec runs "pkexec ARGS" as the rig's user, with no authentication
// agent: only a rule's YES lets it through.
func (r *rig) pkexec(args string) outcome {
	r.t.Helper()
	return r.sh("", "exec pkexec --disable-internal-agent "+args)
}

func TestPkexecDuringTheSessionOnly(t *testing.T) {
	startPolkitd(t)
	r := newSudoRigWith(t, func(c *rigSudo) {
		c.services = append(c.services, "polkit-1")
		c.polkit = true
	})
	// polkitd answers (it needs an agent to ask for an admin's password).
	if got := r.pkexec("id -u"); got.code == 0 || !strings.Contains(got.stderr, "authentication agent") && !strings.Contains(got.stderr, "Not authorized") {
		t.Fatalf("pkexec before the session: %+v, want polkit's refusal", got)
	}
	id := r.grant(30 * time.Minute)
	// polkitd reads the new rule when it sees the file change.
	var got, last outcome
	testenv.WaitUntil(t, "pkexec to be allowed by the session's rule", func() bool {
		if got = r.pkexec("id -u"); got != last {
			t.Logf("pkexec id -u: %+v", got) // what it said while it waited
			last = got
		}
		return got.code == 0
	})
	if strings.TrimSpace(got.stdout) != "0" {
		t.Fatalf("pkexec id -u during the session: %+v, want 0", got)
	}
	// Only pkexec: any other action (systemd-run, a D-Bus call to
	// systemd) would run outside the session, so polkit decides it as
	// without Hoist (here: an admin's password, which no agent can ask).
	if got := r.sh("", "exec pkcheck --action-id org.freedesktop.systemd1.manage-units --process $$"); got.code == 0 {
		t.Errorf("pkcheck of systemd's manage-units during the session: %+v, want polkit's refusal", got)
	}
	var actions []string
	for _, ev := range r.events("polkit.authorised") {
		if ev.Subject == id {
			actions = append(actions, fmt.Sprint(ev.Detail["action"]))
		}
	}
	if len(actions) == 0 || slices.ContainsFunc(actions, func(a string) bool { return a != "org.freedesktop.policykit.exec" }) {
		t.Errorf("polkit.authorised actions in the audit: %q, want only org.freedesktop.policykit.exec", actions)
	}
	daemon := pidOf(t, r.pkexec(`/bin/sh -c 'setsid sleep 1005 >/dev/null 2>&1 & echo $!'`))
	g, err := r.cgs.OpenGroup(id)
	if err != nil {
		t.Fatal(err)
	}
	if pids, _ := g.Pids(); !slices.Contains(pids, daemon) {
		t.Errorf("pid %d started by pkexec is not in the session's cgroup (%v)", daemon, pids)
	}
	var via []string
	for _, ev := range r.events("command.started") {
		if ev.Subject == id {
			via = append(via, ev.Detail["via"].(string))
		}
	}
	if !slices.Contains(via, "pkexec") {
		t.Errorf("no command.started via pkexec in the audit (via %v)", via)
	}
	r.clock.Add(31 * time.Minute)
	testenv.WaitUntil(t, "the end to complete", func() bool { return len(r.events("session.ended")) == 1 })
	testenv.WaitUntil(t, "the program pkexec started to be gone", func() bool { return !testenv.Alive(daemon) })
	testenv.WaitUntil(t, "pkexec to be refused again", func() bool { return r.pkexec("id -u").code != 0 })
	if _, err := os.Stat(filepath.Join("/etc/polkit-1/rules.d", "49-hoist-"+r.sudo.Instance+".rules")); err == nil {
		t.Errorf("the polkit rule is left after the session")
	}
}
