package hoist

import (
	"regexp"
	"strings"
	"testing"
)

// The loops that check names must accept exactly what the regular
// expressions they replaced accepted.
func TestNameLoopsMatchTheirRegularExpressions(t *testing.T) {
	objectName := regexp.MustCompile(`^[\p{L}\p{N}][\p{L}\p{N} ()._/-]{0,99}$`)
	unixName := regexp.MustCompile(`^[a-z_][a-z0-9_.-]{0,31}\$?$`)
	inputs := []string{
		"", " ", "a", "A", "7", "_x", "-x", ".x", "(x)", "x y", "x\ty", "x\ny", "Linux Computers", "JIT Mode (Child Processes)",
		"Ünïcödé", "日本語のグループ", "٣٤", "x/y-z_w.v", "x$", "x$$", "$", "bob$", "a\xffb", "a\u200bb", "a\u00a0b",
		strings.Repeat("a", 32), strings.Repeat("a", 33), strings.Repeat("a", 32) + "$", strings.Repeat("a", 33) + "$",
		strings.Repeat("é", 100), strings.Repeat("é", 101), strings.Repeat("a", 99) + " ", strings.Repeat("a", 100) + " ",
		"user.name-1", "UPPER", "9lives", "ab@c",
	}
	for _, in := range inputs {
		if got, want := validObjectName(in), objectName.MatchString(in); got != want {
			t.Errorf("validObjectName(%q) = %v, want %v", in, got, want)
		}
		if got, want := validUnixName(in), unixName.MatchString(in); got != want {
			t.Errorf("validUnixName(%q) = %v, want %v", in, got, want)
		}
	}
}
