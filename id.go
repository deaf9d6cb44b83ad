package hoist

import (
	"crypto/rand"
	"encoding/base32"
	"strings"
)

// ID prefixes say what an id names, so a pasted id is never ambiguous.
const (
	RequestIDPrefix = "req_"
	SessionIDPrefix = "ses_"
	AdminIDPrefix   = "adm_"
)

var idEncoding = base32.NewEncoding("abcdefghijkmnpqrstuvwxyz23456789").WithPadding(base32.NoPadding)

// NewID returns prefix followed by 16 random characters (80 bits): short
// enough to type, long enough never to collide in one fleet.
func NewID(prefix string) string {
	var b [10]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("hoist: crypto/rand failed: " + err.Error()) // rand.Read does not fail on Linux
	}
	return prefix + idEncoding.EncodeToString(b[:])
}

// ValidID reports whether s looks like an id made by NewID with prefix. It
// lets callers refuse garbage before it reaches a store.
func ValidID(prefix, s string) bool {
	rest, ok := strings.CutPrefix(s, prefix)
	if !ok || len(rest) != 16 {
		return false
	}
	for _, c := range rest {
		if !strings.ContainsRune("abcdefghijkmnpqrstuvwxyz23456789", c) {
			return false
		}
	}
	return true
}
