package console_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
)

// TestAuditTimeRange: the audit page keeps the records of a time range, as
// typed in its From and To fields (UTC), and names the field it cannot read.
func TestAuditTimeRange(t *testing.T) {
	s := newSite(t)
	v := s.visitor()
	v.signIn("audrey", "password-of-audrey")
	s.pending("alice")
	now := s.clock.Now().UTC()
	field := func(t time.Time) string { return url.QueryEscape(t.Format("2006-01-02T15:04:05")) }
	for _, tc := range []struct {
		name, query string
		want        bool
	}{
		{"from an hour ago", "from=" + field(now.Add(-time.Hour)), true},
		{"to an hour ago", "to=" + field(now.Add(-time.Hour)), false},
		{"from tomorrow", "from=" + field(now.Add(24*time.Hour)), false},
		{"the hour around now", "from=" + field(now.Add(-time.Hour)) + "&to=" + field(now.Add(time.Hour)), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, body := v.get("/audit?action=request.created&" + tc.query)
			if got := strings.Contains(unbroken(body), "<td>request.created</td>"); got != tc.want {
				t.Errorf("the request's record shown: %v, want %v", got, tc.want)
			}
		})
	}
	if res, body := v.get("/audit?from=yesterday"); res.StatusCode != http.StatusBadRequest || !strings.Contains(body, "from must be a time") {
		t.Errorf("a bad From: %d\n%.2000s", res.StatusCode, body)
	}
}

// TestGroupConfigSavesRecordTerminal: Record terminals on the group page.
func TestGroupConfigSavesRecordTerminal(t *testing.T) {
	s := newSite(t)
	v := s.visitor()
	v.signIn("admin", password)
	csrf := v.csrf()
	g, _ := s.svc.Group(ctx, s.admin, hoist.DefaultGroup)
	page := "/groups/" + g.ID
	for i, value := range []string{hoist.RecordOutputAndInput, hoist.RecordOff, ""} {
		v.post(page+"/config", url.Values{"csrf": {csrf}, "version": {strconv.Itoa(g.Version + i)}, "config.record_terminal": {value}})
		got, _ := s.svc.Group(ctx, s.admin, g.ID)
		if value == "" && got.Config.RecordTerminal != nil || value != "" && (got.Config.RecordTerminal == nil || *got.Config.RecordTerminal != value) {
			t.Fatalf("after saving %q: record_terminal = %v", value, got.Config.RecordTerminal)
		}
		if _, body := v.get(page); !strings.Contains(body, `<option value="`+value+`" selected>`) {
			t.Errorf("after saving %q the page does not show it selected", value)
		}
	}
	_, body := v.post(page+"/config", url.Values{"csrf": {csrf}, "version": {strconv.Itoa(g.Version + 3)}, "config.record_terminal": {"everything"}})
	if !strings.Contains(body, "choose what to record") {
		t.Errorf("a bad record_terminal is not refused beside its field:\n%.3000s", body)
	}
}

// TestRecordingPageOfASessionWithout: a session with no recording says so;
// an unknown one is not found.
func TestRecordingPageOfASessionWithout(t *testing.T) {
	s := newSite(t)
	v := s.visitor()
	v.signIn("admin", password)
	r := s.pending("alice")
	res, err := s.svc.Approve(ctx, s.admin, []string{r.ID}, time.Hour, "")
	if err != nil || !res[0].OK {
		t.Fatal(res, err)
	}
	sid := s.request(r.ID).SessionID
	if res, body := v.get("/sessions/" + sid + "/recordings"); res.StatusCode != http.StatusOK || !strings.Contains(body, "no terminal recording") {
		t.Errorf("recordings of a session without: %d\n%.2000s", res.StatusCode, body)
	}
	if res, _ := v.get("/sessions/" + sid + "/recordings/2"); res.StatusCode != http.StatusNotFound {
		t.Errorf("recording 2 of none: %d", res.StatusCode)
	}
	if res, _ := v.get("/sessions/ses_nosuchsession00/recordings"); res.StatusCode != http.StatusNotFound {
		t.Errorf("an unknown session: %d", res.StatusCode)
	}
}
