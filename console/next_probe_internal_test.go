package console

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

// TestNextProbeStaysOnSite (review of issue 18): more next values a
// guesser would try. Whatever safeNext returns, the Location it becomes
// must resolve, the way a browser resolves it, to this site.
func TestNextProbeStaysOnSite(t *testing.T) {
	base, _ := url.Parse("https://hoist.example/login")
	for _, n := range []string{"/%3B/evil", "/;/evil.example", "/@evil.example", "/a/%2e%2e/x", "/a/.%2e/", "/login/", "/login;x", "/LOGIN", "/login%3Fx",
		"/%40evil", "/:evil", "/[::1]", "/a//b", "/a/b/../../..//evil", "/approvals?next=//evil", "/?%23", "/audit/export", "/logout", "/%3f/..", "/x/.."} {
		got := safeNext(n)
		w := httptest.NewRecorder()
		r := httptest.NewRequest("GET", "https://hoist.example/login", nil)
		http.Redirect(w, r, got, http.StatusSeeOther)
		loc := w.Header().Get("Location")
		u, err := base.Parse(loc)
		if err != nil || u.Host != "hoist.example" || u.Scheme != "https" {
			t.Errorf("next %q: safeNext %q, Location %q leaves the site (%v)", n, got, loc, err)
		}
	}
}
