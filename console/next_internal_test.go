package console

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzSafeNext: whatever it is given, safeNext returns the approvals page
// or its input unchanged, and what it returns stays on this site however
// many times something further along decodes it.
func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"/approvals", "//evil", "/%255Cevil", "/%2509/x", "/audit?actor=a%40b", "/.//x", "/\uff0fx"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, next string) {
		got := safeNext(next)
		if got != "/approvals" && got != next {
			t.Fatalf("safeNext(%q) = %q: neither the input nor the approvals page", next, got)
		}
		s := got
		for range 4 {
			u, err := url.Parse(s)
			if err != nil {
				t.Fatalf("safeNext(%q) = %q, which does not parse: %v", next, got, err)
			}
			if u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" ||
				!strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") || strings.ContainsAny(s, "\\\t\r\n\x00 ") {
				t.Fatalf("safeNext(%q) = %q, which decodes to %q: off this site", next, got, s)
			}
			if s, err = url.PathUnescape(s); err != nil {
				break
			}
		}
	})
}
