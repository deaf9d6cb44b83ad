package console_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// nextCases are known ways to make a post-login redirect leave the site,
// each with where the browser must be sent instead. Each value is the
// query or form value as the server receives it once decoded.
var nextCases = []struct {
	name, next, want string
}{
	{"protocol-relative", "//evil.example/x", "/approvals"},
	{"three slashes", "///evil.example", "/approvals"},
	{"backslash", "/\\evil.example", "/approvals"},
	{"leading backslash", "\\\\evil.example", "/approvals"},
	{"encoded backslash", "/%5Cevil.example", "/approvals"},
	{"encoded backslash lower case", "/%5cevil.example", "/approvals"},
	{"double-encoded backslash", "/%255Cevil.example", "/approvals"},
	{"double-encoded tab", "/%2509/evil.example", "/approvals"},
	{"encoded tab", "/%09/evil.example", "/approvals"},
	{"tab", "/\t/evil.example", "/approvals"},
	{"bare tab", "\t", "/approvals"},
	{"newline", "/\n/evil.example", "/approvals"},
	{"encoded CR LF", "//%0d%0aevil.example", "/approvals"},
	{"encoded CR LF after slash", "/%0d%0a/evil.example", "/approvals"},
	{"encoded NUL", "/%00/evil.example", "/approvals"},
	{"space", "/ /evil.example", "/approvals"},
	{"encoded space", "/%20/evil.example", "/approvals"},
	{"https", "https://evil.example/", "/approvals"},
	{"scheme without slashes", "http:evil.example", "/approvals"},
	{"scheme with one slash", "http:/evil.example", "/approvals"},
	{"javascript", "javascript:alert(1)", "/approvals"},
	{"data", "data:text/html,<script>alert(1)</script>", "/approvals"},
	{"encoded slashes", "/%2F%2Fevil.example", "/approvals"},
	{"encoded slash", "/%2F/evil.example/../", "/approvals"},
	{"encoded percent", "/%25%32%66evil.example", "/approvals"},
	{"dot then slashes", "/.//evil.example", "/approvals"},
	{"dot then backslash", "/./\\evil.example", "/approvals"},
	{"dot-dot", "/approvals/../../evil.example", "/approvals"},
	{"encoded dots", "/%2e%2e/evil.example", "/approvals"},
	{"fullwidth solidus", "\uff0f\uff0fevil.example", "/approvals"},
	{"fullwidth solidus after slash", "/\uff0fevil.example", "/approvals"},
	{"encoded fullwidth solidus", "/%EF%BC%8Fevil.example", "/approvals"},
	{"overlong slash", "/%C0%AFevil.example", "/approvals"},
	{"fragment", "/approvals#//evil", "/approvals"},
	{"the login page itself", "/login?next=//evil.example", "/approvals"},
	{"empty", "", "/approvals"},
	{"relative", "evil.example", "/approvals"},
	{"at sign is a path here", "/@evil.example", "/@evil.example"},
	{"a page of ours", "/policies", "/policies"},
	{"a page with a query", "/audit?actor=carol&limit=50", "/audit?actor=carol&limit=50"},
	{"a query with an encoded reserved character", "/audit?actor=a%40b", "/audit?actor=a%40b"},
}

// TestNextStaysOnThisSite: after a sign-in (POST) and for a visitor who is
// signed in already (GET), the redirect goes to a path of this site, exactly
// as checked, or to the approvals page.
func TestNextStaysOnThisSite(t *testing.T) {
	s := newSite(t)
	signedIn := s.visitor()
	signedIn.signIn("admin", password)
	for _, tc := range nextCases {
		t.Run(tc.name, func(t *testing.T) {
			v := s.visitor()
			form := url.Values{"user": {"admin"}, "password": {password}, "next": {tc.next}, "login": {v.loginToken()}}
			req, _ := http.NewRequest(http.MethodPost, s.srv.URL+"/login", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			res := v.raw(t, req)
			if got := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || got != tc.want {
				t.Errorf("POST /login next=%q: got %d Location %q, want 303 %q", tc.next, res.StatusCode, got, tc.want)
			}
			req, _ = http.NewRequest(http.MethodGet, s.srv.URL+"/login?next="+url.QueryEscape(tc.next), nil)
			res = signedIn.raw(t, req)
			if got := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || got != tc.want {
				t.Errorf("GET /login?next=%q signed in: got %d Location %q, want 303 %q", tc.next, res.StatusCode, got, tc.want)
			}
		})
	}
}

// raw sends req with the visitor's cookies and returns the answer as the
// server wrote it: the client's redirect handling would refuse a Location
// with a control character before the test could see it.
func (v *visitor) raw(t *testing.T, req *http.Request) *http.Response {
	t.Helper()
	for _, c := range v.client.Jar.Cookies(req.URL) {
		req.AddCookie(c)
	}
	res, err := v.client.Transport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res
}
