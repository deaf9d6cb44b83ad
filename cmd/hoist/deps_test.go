package main

import (
	"flag"
	"slices"
	"testing"

	"github.com/hoist-jit/hoist/testenv"
)

//go:generate go test -run ^TestDependencies$ -update .

var update = flag.Bool("update", false, "rewrite deps.txt from the build")

// TestDependencies holds the hoist command to its checked-in dependency
// list: it is what every user runs to reach hoistd, so what it links is
// reviewed like the root daemon's.
func TestDependencies(t *testing.T) {
	testenv.CheckDeps(t, "github.com/hoist-jit/hoist/cmd/hoist", "deps.txt", "go generate ./cmd/hoist", *update)
}

// TestUserSideStaysSmall: hoist, what every "hoist run" starts, links none
// of what only the admin client (HTTPS), policy files (YAML), the desktop
// helper (D-Bus) or cobra need; those are hoist-admin's and hoist-jit's.
// Each of them costs every elevation its start-up.
func TestUserSideStaysSmall(t *testing.T) {
	got, err := testenv.ListDeps("github.com/hoist-jit/hoist/cmd/hoist")
	if err != nil {
		t.Fatal(err)
	}
	for _, pkg := range []string{
		"net/http", "crypto/tls", "crypto/x509", "go.yaml.in/yaml/v2", "sigs.k8s.io/yaml", "github.com/godbus/dbus/v5",
		"github.com/spf13/cobra", "github.com/spf13/pflag", "text/template", "github.com/hoist-jit/hoist/cli",
		"github.com/hoist-jit/hoist/client", "github.com/hoist-jit/hoist/jit",
	} {
		if slices.Contains(got, pkg) {
			t.Errorf("hoist links %s: the user's side must leave it to hoist-admin or hoist-jit", pkg)
		}
	}
}
