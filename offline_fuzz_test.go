package hoist_test

import (
	"strings"
	"testing"

	"github.com/hoist-jit/hoist"
)

// FuzzParseCode feeds ParseCode what a person or an attacker might type:
// it never panics, refuses with EInvalid naming its field, and what it
// accepts is a code whose canonical spelling parses to the same value.
func FuzzParseCode(f *testing.F) {
	f.Add("K7QF-2M9X-ZR4D")
	f.Add(hoist.FormatCode(0))
	f.Add(strings.ToLower(hoist.FormatCode(1<<55 - 1)))
	f.Add("iloo iloo iloo")
	f.Add("ÄÖÜ-\x00\xff-----")
	f.Fuzz(func(t *testing.T, s string) {
		v, err := hoist.ParseCode(s, "code")
		if err != nil {
			if e, ok := err.(*hoist.Error); !ok || e.Code != hoist.EInvalid || e.Fields["code"] == "" {
				t.Fatalf("refusal %#v: want EInvalid naming the field", err)
			}
			return
		}
		if v >= 1<<55 {
			t.Fatalf("value %d has more than 55 bits", v)
		}
		back, err := hoist.ParseCode(hoist.FormatCode(v), "code")
		if err != nil || back != v {
			t.Fatalf("%q: %d does not survive FormatCode (%d, %v)", s, v, back, err)
		}
	})
}
