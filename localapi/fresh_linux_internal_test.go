//go:build linux

package localapi

import "testing"

func TestParseTTY(t *testing.T) {
	cases := []struct {
		name, line   string
		major, minor uint32
		ok           bool
	}{
		{"a shell on pts/0", "812 (bash) S 800 812 812 34816 900 4194560 1 2", 136, 0, true},
		{"a name with spaces and parentheses", "9 (a) b (c)) R 1 9 9 34817 9", 136, 1, true},
		{"a pts past 255", "9 (x) S 1 9 9 1083436 9", 136, 300, true},
		{"no terminal", "1 (systemd) S 0 1 1 0 -1 4194560", 0, 0, true},
		{"cut short", "9 (x) S 1 9", 0, 0, false},
		{"no name", "9 x S 1 9 9 34816", 0, 0, false},
		{"not a number", "9 (x) S 1 9 9 tty 9", 0, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, err := parseTTY([]byte(tc.line))
			if tc.ok != (err == nil) {
				t.Fatalf("parseTTY = %d, %v; want ok %v", v, err, tc.ok)
			}
			if err == nil && (ttyMajor(v) != tc.major || ttyMinor(v) != tc.minor) {
				t.Fatalf("tty %d:%d, want %d:%d", ttyMajor(v), ttyMinor(v), tc.major, tc.minor)
			}
		})
	}
}
