package server

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestForwardedClient: X-Forwarded-For is believed only from a trusted
// proxy, and then only up to the right-most entry that is not a trusted
// proxy itself: what a client writes at the left is never taken.
func TestForwardedClient(t *testing.T) {
	trusted, err := ParseTrustedProxies([]string{"10.0.0.0/8", "192.0.2.1", "2001:db8:aaaa::/48"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		remote string
		xff    []string
		want   string // the client's address; "" when RemoteAddr stays
	}{
		{"no proxy: XFF ignored", "203.0.113.9:5000", []string{"198.51.100.1"}, ""},
		{"no header", "10.1.2.3:5000", nil, ""},
		{"one proxy", "10.1.2.3:5000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"spoofed entry at the left", "10.1.2.3:5000", []string{"1.1.1.1, 198.51.100.1"}, "198.51.100.1"},
		{"two trusted hops", "10.1.2.3:5000", []string{"198.51.100.1, 10.9.9.9"}, "198.51.100.1"},
		{"two header lines", "10.1.2.3:5000", []string{"1.1.1.1", "198.51.100.1, 192.0.2.1"}, "198.51.100.1"},
		{"single trusted address", "192.0.2.1:5000", []string{"198.51.100.7"}, "198.51.100.7"},
		{"IPv6 proxy", "[2001:db8:aaaa::5]:443", []string{"2001:db8:1::9"}, "2001:db8:1::9"},
		{"entry with a port", "10.1.2.3:5000", []string{"198.51.100.1:4711"}, "198.51.100.1"},
		{"garbage stops at the proxy", "10.1.2.3:5000", []string{"198.51.100.1, garbage"}, ""},
		{"garbage behind a trusted hop", "10.1.2.3:5000", []string{"garbage, 10.7.7.7"}, "10.7.7.7"},
		{"every hop trusted", "10.1.2.3:5000", []string{"10.5.5.5, 10.6.6.6"}, "10.5.5.5"},
		{"mapped IPv4 peer", "[::ffff:10.1.2.3]:5000", []string{"198.51.100.1"}, "198.51.100.1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := http.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.remote
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			got, ok := forwardedClient(trusted, r)
			if tc.want == "" {
				if ok {
					t.Errorf("got client %s, want RemoteAddr %s kept", got, tc.remote)
				}
				return
			}
			if !ok || got.String() != tc.want {
				t.Errorf("got %s (%v), want %s", got, ok, tc.want)
			}
		})
	}
	for _, bad := range []string{"10.0.0.0/33", "proxy.example", "", "fe80::1%eth0"} {
		if _, err := ParseTrustedProxies([]string{bad}); err == nil {
			t.Errorf("ParseTrustedProxies(%q): got no error, want one", bad)
		}
	}
}

// TestForwardedForWithoutTrustedProxyWarnsOnce: requests with
// X-Forwarded-For reaching a server told of no proxy log one warning, not
// one per request, and the header is still ignored.
func TestForwardedForWithoutTrustedProxyWarnsOnce(t *testing.T) {
	var logs strings.Builder
	log := slog.New(slog.NewTextHandler(&logs, nil))
	var seen []string
	h := clientAddr(nil, log, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = append(seen, r.RemoteAddr) }))
	for range 3 {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = "10.0.0.2:4000"
		r.Header.Set("X-Forwarded-For", "198.51.100.7")
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	if n := strings.Count(logs.String(), "no --trusted-proxy"); n != 1 {
		t.Errorf("%d warnings about X-Forwarded-For without --trusted-proxy, want 1:\n%s", n, logs.String())
	}
	for _, a := range seen {
		if a != "10.0.0.2:4000" {
			t.Errorf("client seen as %s, want the peer 10.0.0.2:4000 (X-Forwarded-For from an untrusted peer)", a)
		}
	}
}
