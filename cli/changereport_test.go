package cli_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/hoist-jit/hoist"
)

// TestConfigSetChangeReport: hoist admin config set turns the change
// report off and names its files; a path outside /etc is refused naming
// the field, and an empty value goes back to the default.
func TestConfigSetChangeReport(t *testing.T) {
	m := startServer(t)
	admin := loggedInAdmin(t, m)
	show := func() hoist.AgentConfig {
		t.Helper()
		var cfg hoist.AgentConfig
		if err := json.Unmarshal([]byte(admin.ok("", "admin", "config", "show", hoist.DefaultGroup, "--json")), &cfg); err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	admin.ok("", "admin", "config", "set", hoist.DefaultGroup, "change_report=no", "change_report_files=/etc/hosts,/etc/nginx")
	cfg := show()
	if cfg.ChangeReport == nil || *cfg.ChangeReport || !reflect.DeepEqual(cfg.ChangeReportFiles, []string{"/etc/hosts", "/etc/nginx"}) {
		t.Fatalf("config = %+v", cfg)
	}
	if r := admin.run("", "admin", "config", "set", hoist.DefaultGroup, "change_report_files=/root/.ssh/id_ed25519"); r.code == 0 || !strings.Contains(r.stderr, "change_report_files") {
		t.Errorf("a file outside /etc: exit %d, %q", r.code, r.stderr)
	}
	admin.ok("", "admin", "config", "set", hoist.DefaultGroup, "change_report=", "change_report_files=")
	if cfg := show(); cfg.ChangeReport != nil || cfg.ChangeReportFiles != nil {
		t.Fatalf("after unsetting: %+v", cfg)
	}
}
