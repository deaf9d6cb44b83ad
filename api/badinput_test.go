package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/api"
	"github.com/hoist-jit/hoist/control"
	"github.com/hoist-jit/hoist/sqlite"
)

// badInputServer is the real API on a real SQLite store, with one pending
// request and a logged-in admin.
func badInputServer(t *testing.T) (srv *httptest.Server, token, reqID string, store hoist.Store) {
	t.Helper()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	svc, err := control.New(control.Config{Store: store, Settings: hoist.DefaultApprovalSettings()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Bootstrap(ctx, "correct horse battery staple"); err != nil {
		t.Fatal(err)
	}
	if err := svc.Seed(ctx); err != nil {
		t.Fatal(err)
	}
	token, _, _, err = svc.Login(ctx, "admin", "correct horse battery staple", "")
	if err != nil {
		t.Fatal(err)
	}
	r, _, err := svc.CreateRequest(ctx, control.RequestInput{User: "alice", Host: "ws-01", Duration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	srv = httptest.NewServer(api.New(api.Config{Service: svc, Store: store, MetricsToken: oaMetricsToken}))
	t.Cleanup(srv.Close)
	return srv, token, r.ID, store
}

// auditCount is how many records the log holds: a refused call adds none
// (failed logins excepted: they are audited on purpose).
func auditCount(t *testing.T, store hoist.Store) int64 {
	var seq int64
	_ = store.View(context.Background(), func(tx hoist.Tx) (err error) {
		seq, _, err = tx.AuditHead(context.Background())
		return err
	})
	return seq
}

func TestBadInputIsRefusedAndChangesNothing(t *testing.T) {
	srv, token, id, store := badInputServer(t)
	huge := `{"ids":["` + strings.Repeat("a", api.MaxBodyBytes) + `"],"once":true}`
	manyIDs := `{"ids":[` + strings.TrimSuffix(strings.Repeat(`"req_x",`, 501), ",") + `],"once":true}`
	cases := []struct {
		name, method, path, body, contentType string
		noAuth                                bool
		wantStatus                            int
		wantCode                              string
	}{
		{"not JSON", "POST", "/api/v1/requests/approve", `{ids:`, "", false, 400, hoist.EInvalid},
		{"empty body", "POST", "/api/v1/requests/approve", ``, "", false, 400, hoist.EInvalid},
		{"array instead of object", "POST", "/api/v1/requests/approve", `[1,2]`, "", false, 400, hoist.EInvalid},
		{"unknown field", "POST", "/api/v1/requests/approve", `{"ids":["` + id + `"],"once":true,"admin":true}`, "", false, 400, hoist.EInvalid},
		{"trailing data", "POST", "/api/v1/requests/approve", `{"ids":["` + id + `"],"once":true} {"ids":[]}`, "", false, 400, hoist.EInvalid},
		{"null body", "PATCH", "/api/v1/users/admin", `null`, "", false, 400, hoist.EInvalid},
		{"keys in other case", "POST", "/api/v1/requests/approve", `{"IDS":["` + id + `"],"Once":true}`, "", false, 400, hoist.EInvalid},
		{"the same id twice", "POST", "/api/v1/requests/approve", `{"ids":["` + id + `","` + id + `"],"once":true}`, "", false, 400, hoist.EInvalid},
		{"an empty id", "POST", "/api/v1/requests/deny", `{"ids":[""]}`, "", false, 400, hoist.EInvalid},
		{"look-alike content type", "POST", "/api/v1/requests/deny", `{"ids":["` + id + `"]}`, "application/jsonx", false, 400, hoist.EInvalid},
		{"wrong type", "POST", "/api/v1/requests/approve", `{"ids":"` + id + `","once":true}`, "", false, 400, hoist.EInvalid},
		{"no ids", "POST", "/api/v1/requests/approve", `{"ids":[],"once":true}`, "", false, 400, hoist.EInvalid},
		{"too many ids", "POST", "/api/v1/requests/approve", manyIDs, "", false, 400, hoist.EInvalid},
		{"neither duration nor once", "POST", "/api/v1/requests/approve", `{"ids":["` + id + `"]}`, "", false, 400, hoist.EInvalid},
		{"both duration and once", "POST", "/api/v1/requests/approve", `{"ids":["` + id + `"],"duration":"1h","once":true}`, "", false, 400, hoist.EInvalid},
		{"impossible duration", "POST", "/api/v1/requests/approve", `{"ids":["` + id + `"],"duration":"-1h"}`, "", false, 400, hoist.EInvalid},
		{"duration over the max", "POST", "/api/v1/requests/approve", `{"ids":["` + id + `"],"duration":"8h1s"}`, "", false, 400, hoist.EInvalid},
		{"duration overflow", "POST", "/api/v1/requests/approve", `{"ids":["` + id + `"],"duration":"99999999999h"}`, "", false, 400, hoist.EInvalid},
		{"control characters in reason", "POST", "/api/v1/requests/deny", `{"ids":["` + id + `"],"reason":"a\u001b[2Jb"}`, "", false, 400, hoist.EInvalid},
		{"oversized body", "POST", "/api/v1/requests/approve", huge, "", false, 413, hoist.ETooLarge},
		{"wrong content type", "POST", "/api/v1/requests/deny", `{"ids":["` + id + `"]}`, "text/plain", false, 400, hoist.EInvalid},
		{"no token", "POST", "/api/v1/requests/approve", `{"ids":["` + id + `"],"once":true}`, "", true, 401, hoist.EUnauthorized},
		{"bad id in path", "GET", "/api/v1/requests/%00%ff", ``, "", false, 404, hoist.ENotFound},
		{"unknown id", "GET", "/api/v1/sessions/ses_aaaaaaaaaaaaaaaa", ``, "", false, 404, hoist.ENotFound},
		{"NUL in a filter", "GET", "/api/v1/requests?user=%00", ``, "", false, 400, hoist.EInvalid},
		{"invalid UTF-8 in a filter", "GET", "/api/v1/sessions?host=%ff", ``, "", false, 400, hoist.EInvalid},
		{"unknown state", "GET", "/api/v1/requests?state=happy", ``, "", false, 400, hoist.EInvalid},
		{"limit not a number", "GET", "/api/v1/requests?limit=lots", ``, "", false, 400, hoist.EInvalid},
		{"limit too large", "GET", "/api/v1/sessions?limit=1000000", ``, "", false, 400, hoist.EInvalid},
		{"unknown query parameter", "GET", "/api/v1/requests?stat=pending", ``, "", false, 400, hoist.EInvalid},
		{"repeated query parameter", "GET", "/api/v1/requests?state=pending&state=denied", ``, "", false, 400, hoist.EInvalid},
		{"negative audit cursor", "GET", "/api/v1/audit?after=-5", ``, "", false, 400, hoist.EInvalid},
		{"unknown endpoint", "GET", "/api/v1/nope", ``, "", false, 404, hoist.ENotFound},
		{"wrong method", "DELETE", "/api/v1/requests/approve", ``, "", false, 405, hoist.EInvalid},
		{"login with unknown field", "POST", "/api/v1/login", `{"user":"admin","password":"x","role":"admin"}`, "", true, 400, hoist.EInvalid},
		{"user with bad role", "POST", "/api/v1/users", `{"name":"eve","role":"root","password":"long enough password"}`, "", false, 400, hoist.EInvalid},
		{"user with bad name", "POST", "/api/v1/users", `{"name":"../../etc","role":"admin","password":"long enough password"}`, "", false, 400, hoist.EInvalid},
		{"rename a user", "PATCH", "/api/v1/users/admin", `{"name":"root"}`, "", false, 400, hoist.EInvalid},
		{"nested key in other case", "POST", "/api/v1/policies", `{"name":"X","kind":"application","groups":["Linux Computers"],"application":{"Path":"/bin/id","action":"elevate"}}`, "", false, 400, hoist.EInvalid},
		{"nested unknown key", "PUT", "/api/v1/groups/Linux%20Computers/config", `{"grace":"5s","colour":"blue"}`, "", false, 400, hoist.EInvalid},
		{"unknown key in a list", "POST", "/api/v1/policies", `{"name":"X","kind":"jit-startup","groups":["Linux Computers"],"startup":{"durations":["1h"]},"extra":[{"a":1}]}`, "", false, 400, hoist.EInvalid},
		{"policy of an unknown kind", "POST", "/api/v1/policies", `{"name":"X","kind":"firewall","groups":["Linux Computers"]}`, "", false, 400, hoist.EInvalid},
		{"policy for an unknown group", "POST", "/api/v1/policies", `{"name":"X","kind":"application","groups":["nope"],"application":{"path":"/bin/id","action":"elevate"}}`, "", false, 400, hoist.EInvalid},
		{"a bad duration", "PUT", "/api/v1/groups/Linux%20Computers/config", `{"grace":"forever"}`, "", false, 400, hoist.EInvalid},
		{"delete the default group", "DELETE", "/api/v1/groups/Linux%20Computers", ``, "", false, 409, hoist.EConflict},
	}
	before := auditCount(t, store)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			} else if tc.body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			if !tc.noAuth {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			data, _ := io.ReadAll(resp.Body)
			var body api.ErrorBody
			if err := json.Unmarshal(data, &body); err != nil {
				t.Fatalf("answer is not a JSON error: %q", data)
			}
			if resp.StatusCode != tc.wantStatus || body.Error.Code != tc.wantCode || body.Error.Message == "" {
				t.Fatalf("got %d %+v, want %d %s with a message", resp.StatusCode, body.Error, tc.wantStatus, tc.wantCode)
			}
		})
	}
	if after := auditCount(t, store); after != before {
		t.Fatalf("refused calls added %d audit records", after-before)
	}
	var r hoist.Request
	_ = store.View(context.Background(), func(tx hoist.Tx) (err error) { r, err = tx.Request(context.Background(), id); return err })
	if r.State != hoist.RequestPending || r.Version != 1 {
		t.Fatalf("request after bad input: %s v%d, want pending v1", r.State, r.Version)
	}
}

func TestHealthReadyMetrics(t *testing.T) {
	srv, token, id, _ := badInputServer(t)
	body := `{"ids":["` + id + `"],"duration":"1h"}`
	req, _ := http.NewRequest("POST", srv.URL+"/api/v1/requests/approve", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("approve: %v %v", resp, err)
	}
	resp.Body.Close()
	for path, want := range map[string]string{
		"/healthz": `"ok"`,
		"/readyz":  `"ready"`,
		"/metrics": `hoist_decisions_total{decision="approved",result="ok"} 1`,
	} {
		resp, err := getMetricsToo(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(data), want) {
			t.Errorf("%s: %d, want 200 with %s; got:\n%.2000s", path, resp.StatusCode, want, data)
		}
	}
	resp, _ = getMetricsToo(srv.URL + "/metrics")
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"hoist_sessions_active 1", "hoist_requests_pending 0", `hoist_http_requests_total{code="200",route="POST /api/v1/requests/approve"} 1`} {
		if !strings.Contains(string(data), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
