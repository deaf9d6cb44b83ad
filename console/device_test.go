package console_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestDeviceCookieKeepsBrowserSignedInUnderGuessing: a browser that signed
// in gets a __Host- device cookie (Secure, HttpOnly, SameSite=Strict, long
// lived). When someone at the same address then guesses carol's password
// until that address is throttled for her, the browser with the cookie
// still signs in with the right password; a new browser at that address
// is told to wait.
func TestDeviceCookieKeepsBrowserSignedInUnderGuessing(t *testing.T) {
	s := newSite(t)
	v := s.visitor()
	res, _ := v.post("/login", url.Values{"user": {"carol"}, "password": {"password-of-carol"}, "next": {"/approvals"}, "login": {v.loginToken()}})
	var set string
	for _, c := range res.Header.Values("Set-Cookie") {
		if strings.HasPrefix(c, "__Host-hoist-device=hdv_") {
			set = c
		}
	}
	for _, want := range []string{"Path=/", "Secure", "HttpOnly", "SameSite=Strict", "Max-Age="} {
		if !strings.Contains(set, want) {
			t.Errorf("device cookie %q lacks %s", set, want)
		}
	}
	v.post("/logout", url.Values{"csrf": {v.csrf()}})
	for i := range 10 { // the test server sees every client at 127.0.0.1
		_, _, _, _ = s.svc.Login(ctx, "carol", fmt.Sprintf("guess %d", i), "127.0.0.1")
	}
	res, body := v.post("/login", url.Values{"user": {"carol"}, "password": {"password-of-carol"}, "next": {"/approvals"}, "login": {v.loginToken()}})
	if res.StatusCode != http.StatusSeeOther {
		t.Errorf("browser with its device cookie, right password, after a neighbour's guesses: %d\n%s", res.StatusCode, body)
	}
	stranger := s.visitor()
	_, body = stranger.post("/login", url.Values{"user": {"carol"}, "password": {"password-of-carol"}, "next": {"/approvals"}, "login": {stranger.loginToken()}})
	if !strings.Contains(body, "too many failed logins") {
		t.Errorf("a new browser at the guesser's address was not told to wait:\n%s", body)
	}
}
