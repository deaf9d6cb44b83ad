package server

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/control"
)

// CheckpointFile is the file of the audit log's signed checkpoints in the
// data directory, beside (not inside) the SQLite database.
const CheckpointFile = "audit-checkpoints"

// maxCheckpoints bounds what one Load reads: at one checkpoint every five
// minutes, about nineteen years of them.
const maxCheckpoints = 2_000_000

// checkpointFile is a control.CheckpointLog kept in a file: JSON lines, one
// signed checkpoint a line, only ever appended to (O_APPEND, 0600), each
// line synced before Append returns.
type checkpointFile struct {
	path string
	mu   sync.Mutex // serialises Append and Close
	f    *os.File

	// seen holds the lines whose signature Load checked already, by their
	// SHA-256, so that a console showing the chain's state does not check
	// a year of signatures on every visit. A line changed is a line not
	// seen, checked afresh.
	seenMu  sync.Mutex
	seen    map[[32]byte]hoist.AuditCheckpoint
	seenKey string
}

var _ control.CheckpointLog = (*checkpointFile)(nil)

// openCheckpointFile opens (creating, 0600) the checkpoint file at path
// for appending; it refuses a symbolic link, a file another user owns or
// may write, and a directory others may write without the sticky bit (see
// openCheckpointPath). A last line torn by a crash is ended with a
// newline, so that the next checkpoint starts on a line of its own.
func openCheckpointFile(path string) (*checkpointFile, error) {
	f, err := openCheckpointPath(path)
	if err != nil {
		return nil, err
	}
	info, err := f.Stat()
	if err == nil && !info.Mode().IsRegular() {
		err = fmt.Errorf("%s is not a regular file", path)
	}
	if err == nil && info.Size() > 0 {
		last := make([]byte, 1)
		if _, err = f.ReadAt(last, info.Size()-1); err == nil && last[0] != '\n' {
			_, err = f.Write([]byte{'\n'})
		}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return &checkpointFile{path: path, f: f}, nil
}

// Append writes c as one line, in one write, and syncs it.
func (c *checkpointFile) Append(cp hoist.AuditCheckpoint) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.f == nil {
		return os.ErrClosed
	}
	if _, err := c.f.Write(cp.MarshalLine()); err != nil {
		return err
	}
	return c.f.Sync()
}

// Last returns the file's last checkpoint, read from its tail and not
// checked: the server only compares it with its head.
func (c *checkpointFile) Last() (hoist.AuditCheckpoint, bool, error) {
	f, err := os.Open(c.path)
	if err != nil {
		return hoist.AuditCheckpoint{}, false, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return hoist.AuditCheckpoint{}, false, err
	}
	from := max(0, info.Size()-2*hoist.MaxCheckpointLine)
	buf := make([]byte, info.Size()-from)
	if _, err := f.ReadAt(buf, from); err != nil && !errors.Is(err, io.EOF) {
		return hoist.AuditCheckpoint{}, false, err
	}
	lines := bytes.Split(bytes.TrimRight(buf, "\n"), []byte("\n"))
	var cp hoist.AuditCheckpoint
	if len(lines) == 0 || json.Unmarshal(lines[len(lines)-1], &cp) != nil {
		return hoist.AuditCheckpoint{}, false, nil
	}
	return cp, true, nil
}

// Load reads and checks the whole file (see readCheckpoints).
func (c *checkpointFile) Load(pub ed25519.PublicKey) ([]hoist.AuditCheckpoint, error) {
	c.seenMu.Lock()
	defer c.seenMu.Unlock()
	if id := hoist.KeyID(pub); c.seen == nil || c.seenKey != id || len(c.seen) > maxCheckpoints {
		c.seen, c.seenKey = map[[32]byte]hoist.AuditCheckpoint{}, id
	}
	return scanCheckpoints(c.path, func(line []byte) (hoist.AuditCheckpoint, error) {
		sum := sha256.Sum256(line)
		if cp, ok := c.seen[sum]; ok {
			return cp, nil
		}
		cp, err := hoist.ParseCheckpoint(line, pub)
		if err == nil {
			c.seen[sum] = cp
		}
		return cp, err
	})
}

// Close closes the file.
func (c *checkpointFile) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.f == nil {
		return nil
	}
	err := c.f.Close()
	c.f = nil
	return err
}

// readCheckpoints returns the checkpoints in the file at path, each
// signature checked with pub. It fails with ENotFound when there is no
// file, and with EConflict naming the line when a line is not a checkpoint
// pub signed. A last line without its newline is a write a crash cut short
// and is left out.
func readCheckpoints(path string, pub ed25519.PublicKey) ([]hoist.AuditCheckpoint, error) {
	return scanCheckpoints(path, func(line []byte) (hoist.AuditCheckpoint, error) { return hoist.ParseCheckpoint(line, pub) })
}

// scanCheckpoints is readCheckpoints with the check of one line, parse,
// passed in.
func scanCheckpoints(path string, parse func([]byte) (hoist.AuditCheckpoint, error)) ([]hoist.AuditCheckpoint, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, hoist.Errorf(hoist.ENotFound, "%s (%s)", control.NoCheckpoints, path)
	}
	if err != nil {
		return nil, hoist.WrapError(hoist.EUnavailable, "cannot read the audit checkpoints "+path, err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 64<<10)
	var cps []hoist.AuditCheckpoint
	for n := 1; ; n++ {
		line, err := readLine(r)
		if errors.Is(err, io.EOF) {
			return cps, nil
		}
		if err != nil {
			return nil, hoist.WrapError(hoist.EConflict, fmt.Sprintf("line %d of %s: %v", n, path, err), err)
		}
		if len(line) == 0 {
			continue // a torn line ended by openCheckpointFile leaves none, but a blank line harms nothing
		}
		cp, err := parse(line)
		if err != nil {
			return nil, hoist.WrapError(hoist.EConflict, fmt.Sprintf("line %d of %s: %s", n, path, hoist.ErrorMessage(err)), err)
		}
		if len(cps) >= maxCheckpoints {
			return nil, hoist.Errorf(hoist.ETooLarge, "%s holds more than %d checkpoints; check a copy of its newest lines with --checkpoints", path, maxCheckpoints)
		}
		cps = append(cps, cp)
	}
}

// readLine returns the next line without its newline: io.EOF at the end or
// before a last line without a newline, an error for a line longer than a
// checkpoint can be.
func readLine(r *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > hoist.MaxCheckpointLine+1 {
			return nil, fmt.Errorf("a line longer than %d bytes is not a checkpoint", hoist.MaxCheckpointLine)
		}
		switch {
		case err == nil:
			return line[:len(line)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		default:
			return nil, err // io.EOF also for a torn last line
		}
	}
}

// DefaultCheckpointInterval is how often a running server checkpoints its
// audit head when it moved.
const DefaultCheckpointInterval = 5 * time.Minute
