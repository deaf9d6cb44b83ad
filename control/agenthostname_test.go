package control_test

import (
	"strings"
	"testing"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/wire"
)

// TestHomoglyphHostnameRefused (review of issue 18): agent B reports
// "wѕ-01" (U+0455 CYRILLIC SMALL LETTER DZE for 's') beside A's ws-01. The
// check-in is refused with a message naming the hostname, and B keeps the
// name it had.
func TestHomoglyphHostnameRefused(t *testing.T) {
	onEachStore(t, func(t *testing.T, w *watch) {
		b := w.addAgent(t, "build-3")
		_, err := w.svc.Checkin(ctx, b.ID, wire.AgentFacts{Hostname: "w\u0455-01", Version: hoist.Version, OS: "linux", Kernel: "6.1"})
		if hoist.ErrorCode(err) != hoist.EInvalid {
			t.Fatalf("check-in as w\\u0455-01: %v, want EInvalid", err)
		}
		if msg := hoist.ErrorMessage(err); !containsAll(msg, "hostname", "ASCII") {
			t.Errorf("refusal %q does not say the hostname must be ASCII", msg)
		}
		if v := w.agentView(t, b.ID); v.Hostname != "build-3" {
			t.Errorf("after the refused check-in B is listed as %q, want build-3", v.Hostname)
		}
		for _, ok := range []string{"ws-01", "WS-01.corp.example", "xn--bcher-kva.example", "host_7"} {
			w.checkinAs(t, b.ID, ok)
		}
	})
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
