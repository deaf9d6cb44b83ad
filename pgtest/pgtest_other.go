//go:build !unix

package pgtest

import (
	"os"
	"testing"
)

// Main runs the tests.
func Main(m *testing.M) int { return m.Run() }

// URL returns HOIST_TEST_POSTGRES; starting a server is written for Unix
// only so far.
func URL(t testing.TB) string {
	t.Helper()
	if url := os.Getenv("HOIST_TEST_POSTGRES"); url != "" {
		return url
	}
	t.Skip("starting PostgreSQL for tests is not supported on this OS yet; set HOIST_TEST_POSTGRES")
	return ""
}
