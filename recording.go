package hoist

import "time"

// Recording is one terminal recording of an elevated program, in
// asciicast v2, as hoistd made it and uploaded it. Its bytes are stored
// apart, in the order they arrived (Tx.AppendRecording).
type Recording struct {
	ID string `json:"id"`
	// Session is the JIT session it belongs to (or the run id of a program
	// a policy elevated without one).
	Session string    `json:"session_id"`
	Agent   string    `json:"agent"`
	User    string    `json:"user"`
	Argv    []string  `json:"argv"`
	Started time.Time `json:"started"`
	Ended   time.Time `json:"ended"`
	// Size is the bytes stored so far; Complete says the agent sent the
	// last of them.
	Size     int64 `json:"size"`
	Complete bool  `json:"complete"`
	// Truncated says the recording reached the agent's limit per session
	// and ends with a "recording truncated" marker.
	Truncated bool `json:"truncated,omitempty"`
	// Input says what the user typed is recorded too.
	Input bool `json:"input,omitempty"`
	// Stored is when the server stored its first bytes; retention counts
	// from it.
	Stored time.Time `json:"stored"`
}

// Limits of recordings as the server takes them.
const (
	// MaxRecordingChunk is the most bytes of one upload (a JSON body of the agent API holds it base64-encoded).
	MaxRecordingChunk = 32 << 10
	// MaxRecordingSize is the most bytes the server keeps of one recording.
	MaxRecordingSize = 256 << 20
	// DefaultRecordingRetention is how long recordings are kept.
	DefaultRecordingRetention = 90 * 24 * time.Hour
)

// RecordingIDPrefix marks recording ids.
const RecordingIDPrefix = "rec_"

// Err is the EInvalid error naming every field of f for what ("the
// recording"), nil when f is empty: for checks outside the domain.
func (f FieldErrors) Err(what string) error { return f.err(what) }
