package agent

import (
	"bufio"
	"encoding/json"
	"os"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// castWriter writes one terminal recording in asciicast v2: a header line
// (a JSON object) and one line per event, [seconds, code, data], code "o"
// for output, "i" for input, "r" for a resize ("COLSxROWS") and "m" for a
// marker. It stops at its budget: the event that would pass it is replaced
// by a "recording truncated" marker, and nothing more is written. Its
// methods are safe for concurrent use and never block on anything but the
// local file.
type castWriter struct {
	mu    sync.Mutex
	f     *os.File
	w     *bufio.Writer
	start time.Time // of the elapsed times, from the monotonic clock
	// budget is the bytes left for events, shared by the session's
	// recordings; full is set once it ran out.
	budget *recordBudget
	full   bool
	bytes  int64
	// partial holds the tail of an output or input chunk that ended inside
	// a UTF-8 sequence, joined to the next chunk of the same stream so a
	// character split between two reads is not recorded as two broken ones.
	partial map[string][]byte
	err     error
}

// castHeader is the first line of a recording.
type castHeader struct {
	Version   int               `json:"version"`
	Width     int               `json:"width"`
	Height    int               `json:"height"`
	Timestamp int64             `json:"timestamp"`
	Env       map[string]string `json:"env,omitempty"`
}

// newCastWriter starts a recording in f (which it owns from here) of a
// terminal of cols by rows, begun at the wall-clock time at, with budget
// events charged to budget.
func newCastWriter(f *os.File, cols, rows int, at time.Time, term string, budget *recordBudget) (*castWriter, error) {
	c := &castWriter{f: f, w: bufio.NewWriterSize(f, 32<<10), start: time.Now(), budget: budget, partial: map[string][]byte{}}
	h := castHeader{Version: 2, Width: cols, Height: rows, Timestamp: at.Unix(), Env: map[string]string{"TERM": term}}
	line, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	if _, err := c.w.Write(append(line, '\n')); err != nil {
		return nil, err
	}
	c.bytes = int64(len(line) + 1)
	return c, nil
}

// output records what the program showed.
func (c *castWriter) output(p []byte) { c.event("o", p) }

// input records what the user typed.
func (c *castWriter) input(p []byte) { c.event("i", p) }

// resize records a new terminal size.
func (c *castWriter) resize(cols, rows int) {
	c.event("r", []byte(strconv.Itoa(cols)+"x"+strconv.Itoa(rows)))
}

// event appends one event; data is cut at the last whole UTF-8 character
// for the streams that may split one.
func (c *castWriter) event(code string, data []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.full || c.err != nil {
		return
	}
	if code == "o" || code == "i" {
		data = append(c.partial[code], data...)
		cut := completeUTF8(data)
		c.partial[code] = append([]byte(nil), data[cut:]...)
		data = data[:cut]
		if len(data) == 0 {
			return
		}
	}
	line := castLine(time.Since(c.start), code, string(data))
	if !c.budget.take(int64(len(line))) {
		c.full = true
		c.write(castLine(time.Since(c.start), "m", "recording truncated"))
		return
	}
	c.write(line)
}

func (c *castWriter) write(line []byte) {
	if _, err := c.w.Write(line); err != nil {
		c.err = err
		return
	}
	c.bytes += int64(len(line))
}

// castLine is one event line. Bytes that are not UTF-8 become U+FFFD, as
// JSON strings must be text.
func castLine(at time.Duration, code, data string) []byte {
	t := strconv.FormatFloat(at.Seconds(), 'f', 6, 64)
	d, _ := json.Marshal(data)
	line := make([]byte, 0, len(t)+len(code)+len(d)+10)
	line = append(line, '[')
	line = append(line, t...)
	line = append(line, `, "`...)
	line = append(line, code...)
	line = append(line, `", `...)
	line = append(line, d...)
	return append(line, "]\n"...)
}

// completeUTF8 is the length of the longest prefix of p that does not end
// inside a UTF-8 sequence (at most 3 bytes are held back).
func completeUTF8(p []byte) int {
	for back := 1; back <= 3 && back <= len(p); back++ {
		b := p[len(p)-back]
		if b < 0x80 {
			return len(p) // ASCII: nothing pending
		}
		if utf8.RuneStart(b) {
			if utf8.FullRune(p[len(p)-back:]) {
				return len(p)
			}
			return len(p) - back
		}
	}
	return len(p)
}

// close flushes and closes the file; it reports whether the budget ran
// out, and the size written.
func (c *castWriter) close() (truncated bool, size int64, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.err = c.w.Flush()
	}
	if cerr := c.f.Close(); c.err == nil {
		c.err = cerr
	}
	truncated = c.full
	c.full = true // nothing more after the close
	return truncated, c.bytes, c.err
}
