package link_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/link"
)

// TestDamagedIdentitySaysHowToReEnrol: each damaged part of an enrolled
// identity is named, with the commands that enrol the machine again.
func TestDamagedIdentitySaysHowToReEnrol(t *testing.T) {
	m := startServer(t)
	for _, tc := range []struct{ file, content, what string }{
		{"identity.json", "{not json", "identity.json is not valid JSON"},
		{"agent.pem", "garbage", "the agent certificate or its key (agent.pem, agent-key.pem) cannot be read"},
		{"ca.pem", "garbage", "the server's CA certificate (ca.pem) cannot be read"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			state := t.TempDir()
			if _, err := link.Enroll(ctx, "", token(t, m, 1), state, link.Facts(hoist.Version)); err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(state, "identity")
			if err := os.WriteFile(filepath.Join(dir, tc.file), []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := link.Load(state)
			want := "this machine's agent identity in " + dir + " is damaged: " + tc.what + ". Re-enrol it: remove " + dir +
				", get a token on the server (hoist admin enroll-token) and run hoistd enroll --state " + state + " --server URL --token TOKEN"
			if hoist.ErrorCode(err) != hoist.EInvalid || hoist.ErrorMessage(err) != want {
				t.Fatalf("Load: %v\nwant the message %q", err, want)
			}
		})
	}
	if _, err := link.Load(t.TempDir()); !strings.Contains(hoist.ErrorMessage(err), "not enrolled") {
		t.Fatalf("Load of nothing: %v", err)
	}
}
