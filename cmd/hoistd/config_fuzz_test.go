package main

import (
	"strings"
	"testing"
)

// FuzzParseConfig: whatever the file holds, root's parser returns pairs of
// plain keys with values on one line, or an error; it never panics.
func FuzzParseConfig(f *testing.F) {
	for _, seed := range []string{
		"state: /var/lib/hoist\n", "socket: \"/run/x y\" # c\n", "a: 'b'\n", "x:\n", "- a\n",
		"state: [a]\n", "k: \"unterminated\n", "# only\n\n", "grace: 10s # x\ngrace: 1s\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		pairs, err := parseConfig(data)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, p := range pairs {
			if !validKey(p.key) || p.key == "" || seen[p.key] {
				t.Fatalf("bad or repeated key %q", p.key)
			}
			seen[p.key] = true
			if strings.ContainsAny(p.value, "\n") {
				t.Fatalf("value %q spans lines", p.value)
			}
		}
	})
}
