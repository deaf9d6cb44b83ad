package server

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// IntegrationKeyFile, in the data directory, is the key that seals the
// integrations' secrets in the store. Replicas sharing one database need
// the same file, as they need the same CA and grant key.
const IntegrationKeyFile = "integrations.key"

// loadOrCreateIntegrationKey returns the 32-byte key in DIR, making it on
// the first start.
func loadOrCreateIntegrationKey(dir string) ([]byte, error) {
	path := filepath.Join(dir, IntegrationKeyFile)
	key, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		key = make([]byte, 32)
		_, _ = rand.Read(key)
		// O_EXCL: two servers starting at once on one directory keep one key.
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) {
			return loadOrCreateIntegrationKey(dir)
		}
		if err != nil {
			return nil, err
		}
		if _, err := f.Write(key); err != nil {
			f.Close()
			return nil, err
		}
		return key, f.Close()
	}
	if err != nil {
		return nil, err
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("%s holds %d bytes, not the 32 of a key", path, len(key))
	}
	return key, nil
}
