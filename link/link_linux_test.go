package link_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/control"
	"github.com/hoist-jit/hoist/link"
	"github.com/hoist-jit/hoist/server"
)

var ctx = context.Background()

var adminActor = control.Actor{Name: "admin", Role: hoist.RoleAdmin}

func startServer(t testing.TB) *server.Main {
	t.Helper()
	m, err := server.Start(ctx, server.Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0",
		AdminPassword: "correct horse battery staple", Settings: hoist.DefaultApprovalSettings()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func token(t testing.TB, m *server.Main, uses int) string {
	t.Helper()
	tok, _, err := m.Service().CreateEnrollToken(ctx, adminActor, "", time.Hour, uses)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestEnrolmentRefusals(t *testing.T) {
	a, b := startServer(t), startServer(t)
	facts := link.Facts(hoist.Version)
	tok := token(t, a, 1)
	if _, err := link.Enroll(ctx, "", tok, t.TempDir(), facts); err != nil {
		t.Fatalf("first use: %v", err)
	}
	cases := []struct {
		name, server, token, want string
	}{
		{"used up", "", tok, "unknown, used up or expired"},
		{"unknown", "", token(t, b, 1)[:20] + "x", "not a Hoist enrolment token"},
		// b's token pins b's CA: a server with another CA is refused before
		// the secret is sent.
		{"another server's CA", a.URL(), token(t, b, 1), "does not match the fingerprint"},
		{"not https", "http://127.0.0.1:1", token(t, a, 1), "https://"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := link.Enroll(ctx, tc.server, tc.token, t.TempDir(), facts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("enrol: %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
	agents, _ := a.Service().Agents(ctx, adminActor)
	if len(agents) != 1 {
		t.Fatalf("%d agents enrolled, want 1", len(agents))
	}
}
