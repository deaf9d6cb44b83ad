package console_test

import (
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/hoist-jit/hoist"
)

// TestGroupConfigSavesChangeReport: the group page turns the change
// report off and names its files; a path outside /etc is refused with the
// field's error, and saving the form keeps what it shows.
func TestGroupConfigSavesChangeReport(t *testing.T) {
	s := newSite(t)
	v := s.visitor()
	v.signIn("admin", password)
	csrf := v.csrf()
	g, _ := s.svc.Group(ctx, s.admin, hoist.DefaultGroup)
	page := "/groups/" + g.ID
	if _, body := v.get(page); !strings.Contains(body, `name="config.change_report"`) || !strings.Contains(body, `name="config.change_report_files"`) {
		t.Fatalf("the group page has no change report fields:\n%.3000s", body)
	}
	v.post(page+"/config", url.Values{"csrf": {csrf}, "version": {strconv.Itoa(g.Version)},
		"config.change_report": {"no"}, "config.change_report_files": {"/etc/hosts, /etc/ssh/sshd_config.d"}})
	got, _ := s.svc.Group(ctx, s.admin, g.ID)
	if got.Config.ChangeReport == nil || *got.Config.ChangeReport || !reflect.DeepEqual(got.Config.ChangeReportFiles, []string{"/etc/hosts", "/etc/ssh/sshd_config.d"}) {
		t.Fatalf("saved change_report = %v, files = %v", got.Config.ChangeReport, got.Config.ChangeReportFiles)
	}
	_, body := v.post(page+"/config", url.Values{"csrf": {csrf}, "version": {strconv.Itoa(got.Version)}, "config.change_report_files": {"/root/.bashrc"}})
	if !strings.Contains(body, "not a clean path under /etc") {
		t.Errorf("a file outside /etc was not refused with the field's error:\n%.3000s", body)
	}
}
