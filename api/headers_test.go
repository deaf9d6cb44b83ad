package api_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestEveryAnswerForbidsSniffingAndStorage sends the kinds of call an API
// answers differently — JSON, no content, a streamed export, each kind of
// error, no such route, the metrics — and wants every answer to tell the
// browser not to guess its type and nothing on the way to keep it: an
// admin's token and the audit trail pass through these answers.
func TestEveryAnswerForbidsSniffingAndStorage(t *testing.T) {
	srv, token, id, _ := badInputServer(t)
	calls := []struct {
		name, method, path, body string
		admin                    bool
		status                   int
	}{
		{"JSON", "GET", "/healthz", "", false, 200},
		{"a list", "GET", "/api/v1/requests", "", true, 200},
		{"a streamed export", "GET", "/api/v1/audit/export", "", true, 200},
		{"a bad body", "POST", "/api/v1/requests/approve", `{"ids":`, true, 400},
		{"a decision", "POST", "/api/v1/requests/approve", `{"ids":["` + id + `"],"duration":"1h"}`, true, 200},
		{"no token", "GET", "/api/v1/requests", "", false, 401},
		{"no such route", "GET", "/api/v1/nothing-here", "", false, 404},
		{"a method not allowed", "DELETE", "/healthz", "", false, 405},
		{"the metrics without their token", "GET", "/metrics", "", false, 401},
		{"no content", "POST", "/api/v1/logout", "", true, 204},
	}
	for _, c := range calls {
		req, err := http.NewRequest(c.method, srv.URL+c.path, strings.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		if c.admin {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("%s: %s %s answered %d, want %d", c.name, c.method, c.path, resp.StatusCode, c.status)
		}
		if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s: X-Content-Type-Options %q, want nosniff", c.name, got)
		}
		if got := resp.Header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("%s: Cache-Control %q, want no-store", c.name, got)
		}
	}
}
