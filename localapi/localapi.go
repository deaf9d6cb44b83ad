// Package localapi is the protocol between the hoist command and hoistd over
// hoistd's Unix socket. It is small on purpose: hoistd runs as root and
// parses nothing it does not need.
//
// A connection carries one exchange. The client sends a Request frame; with
// a "run" request, the descriptors the program gets as stdin, stdout and
// stderr travel with that frame's first bytes (SCM_RIGHTS). hoistd answers
// with Reply frames; during a run the client may send further Request frames
// of op "signal". A frame is a 4-byte big-endian length and that many bytes
// of JSON. Anything else — an unknown version, op or field, a frame over
// MaxFrame, descriptors where none belong — is refused and the connection
// closed.
//
// hoistd bounds what a caller sends once, at the socket, before acting on
// it: ReceiveRequest takes the first frame and its descriptors (disarmed,
// so that closing them never waits on the caller), Request.Check refuses
// fields over their limits or out of place, CheckRunFiles refuses
// descriptors a run must not be given, and Reader reads the frames after
// the first.
package localapi

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/hoist-jit/hoist"
)

// Version is the protocol version this build speaks.
const Version = 1

// MaxFrame caps a frame, in bytes of JSON: a request with every field at
// its limit (MaxArgvBytes and the others) fits when its text needs no
// escaping.
const MaxFrame = 256 << 10

// DefaultSocket is where hoistd listens.
const DefaultSocket = "/run/hoist/hoistd.sock"

// Ops.
const (
	OpStatus  = "status"
	OpRun     = "run"
	OpExit    = "exit"
	OpRequest = "request"
	OpSignal  = "signal"
	// OpResize, during a run whose Started says Recording, gives the
	// size of the user's terminal after a change (Rows and Cols): hoistd
	// owns the program's terminal then and applies it.
	OpResize = "resize"
	// OpGrant is root's local grant of JIT mode to a user, for machines
	// without a server.
	OpGrant = "grant"
	// OpExplain asks which policy would decide Argv for the caller.
	OpExplain = "explain"
	// OpCancel withdraws the caller's waiting request.
	OpCancel = "cancel"
	// OpExtend asks for Duration more on the caller's active session
	// (hoist request --extend): an extension request, approved like any.
	OpExtend = "extend"
	// OpHook is the sudo and pkexec integration asking hoistd: a PAM
	// session step (Hook is HookOpen or HookClose) of the process that is
	// the caller's parent, or polkitd's rule asking whether User may be
	// authorised (HookPolkit).
	OpHook = "hook"
	// OpOffline makes an offline challenge for the caller (hoist request
	// --offline), asking Duration with Reason, for a machine that cannot
	// reach its server.
	OpOffline = "offline"
	// OpRespond gives hoistd Code, the approver's response to the caller's
	// offline challenge or an emergency code (hoist request --response).
	OpRespond = "respond"
)

// Hooks of OpHook.
const (
	// HookOpen: a sudo or pkexec session opens; hoistd moves the caller's
	// parent (sudo, pkexec) into the session's cgroup and audits it.
	HookOpen = "open"
	// HookClose: that session closes.
	HookClose = "close"
	// HookPolkit: may User be authorised by polkit now?
	HookPolkit = "polkit"
)

func validHook(h string) bool { return h == HookOpen || h == HookClose || h == HookPolkit }

// Request is a frame from the client.
type Request struct {
	V  int    `json:"v"`
	Op string `json:"op"`
	// Argv is the command to run, for OpRun.
	Argv []string `json:"argv,omitempty"`
	// Term is the client's $TERM, for OpRun; checked before use.
	Term string `json:"term,omitempty"`
	// TTY says the client made a fresh pseudo-terminal for this run and
	// every terminal among the descriptors is that one: the client makes
	// one whenever any of its own stdin, stdout and stderr is a terminal,
	// passes it in their place, and passes the others as they are. Without
	// TTY no descriptor may be a terminal (see CheckRunFiles). When stdin is
	// the terminal it becomes the program's controlling terminal.
	TTY bool `json:"tty,omitempty"`
	// Duration and Reason are the ask of OpRequest; Reason is also the
	// justification of an OpRun a policy wants one for.
	Duration string `json:"duration,omitempty"`
	Reason   string `json:"reason,omitempty"`
	// Signal is the signal number to forward, for OpSignal.
	Signal int `json:"signal,omitempty"`
	// User is who OpGrant grants JIT mode to.
	User string `json:"user,omitempty"`
	// Helper asks OpStatus for the JIT helper's facts too.
	Helper bool `json:"helper,omitempty"`
	// Hook is the step of OpHook.
	Hook string `json:"hook,omitempty"`
	// Action is the polkit action the polkit hook asks about, for the
	// audit (HookPolkit only).
	Action string `json:"action,omitempty"`
	// Rows and Cols are the terminal's size, for OpResize (1 to MaxWinSize
	// each).
	Rows int `json:"rows,omitempty"`
	Cols int `json:"cols,omitempty"`
	// Code is the response or emergency code of OpRespond.
	Code string `json:"code,omitempty"`
}

// Reply is a frame from hoistd. Exactly one field is set.
type Reply struct {
	Error   *Error   `json:"error,omitempty"`
	Status  *Status  `json:"status,omitempty"`
	Started *Started `json:"started,omitempty"`
	Exited  *Exited  `json:"exited,omitempty"`
	Notice  *Notice  `json:"notice,omitempty"`
	Ended   *Ended   `json:"ended,omitempty"`
	// Explained answers OpExplain.
	Explained *Explanation `json:"explained,omitempty"`
	// Challenge answers OpOffline.
	Challenge *Challenge `json:"challenge,omitempty"`
}

// Challenge is an offline challenge hoistd made for the caller.
type Challenge struct {
	// Code is the challenge code to read to an approver.
	Code string `json:"challenge"`
	// Duration is the window it asks for (the one asked, rounded down to
	// a window a challenge can carry).
	Duration string `json:"duration"`
	// ExpiresAt is when it can no longer be answered (RFC 3339).
	ExpiresAt string `json:"expires_at"`
}

// Explanation is what hoistd would do with a command, and why.
type Explanation struct {
	// Path is the program the command resolves to.
	Path    string `json:"path"`
	Action  string `json:"action"` // elevate, allow, deny, justify, none
	Elevate bool   `json:"elevate"`
	Policy  string `json:"policy,omitempty"`
	Why     string `json:"why"`
	// Session is true when the JIT session is what elevates it.
	Session bool     `json:"session,omitempty"`
	Audited []string `json:"audited,omitempty"`
	// JIT says whether JIT mode is available on this machine.
	JIT bool `json:"jit"`
	// Argv is how each argument met the argument rule of the policy that
	// decided; ArgvMisses are the policies that name the program but whose
	// argument rule refused these arguments, each ending with the argument
	// that failed.
	Argv       []hoist.ArgMatch `json:"argv,omitempty"`
	ArgvMisses []hoist.ArgvMiss `json:"argv_misses,omitempty"`
}

// Error is a refusal. Code is a hoist error code; Exit is the exit status
// the client should end with (126 refused, 127 not found, 1 otherwise).
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Exit    int    `json:"exit,omitempty"`
}

func (e *Error) Error() string { return e.Message }

// Status is the caller's JIT state on this machine.
type Status struct {
	State string `json:"state"` // none, pending, active, ended
	// SessionID and ExpiresAt are always present (empty and null without a
	// session), as the user-facing contract promises scripts.
	SessionID        string  `json:"session_id"`
	RequestID        string  `json:"request_id,omitempty"`
	ExpiresAt        *string `json:"expires_at"` // RFC 3339
	RemainingSeconds int64   `json:"remaining_seconds"`
	EndReason        string  `json:"end_reason,omitempty"`
	User             string  `json:"user"`
	// RequestState is the state of RequestID when it is not the session's
	// own: pending, denied or expired.
	RequestState string `json:"request_state,omitempty"`
	// DecisionReason is the approver's note on a denied request.
	DecisionReason string `json:"decision_reason,omitempty"`
	// Closing says the session has ended and its elevated programs are
	// still being closed: "have been closed" is true only once it is false.
	Closing bool `json:"closing,omitempty"`
	// Unkillable lists elevated processes the end could not kill (stuck in
	// the kernel); hoistd keeps trying.
	Unkillable []int `json:"unkillable,omitempty"`
	// Sudo says sudo and pkexec elevate the user during this session.
	Sudo bool `json:"sudo,omitempty"`
	// Emergency says an emergency code started the session: the JIT
	// helper says so loudly.
	Emergency bool `json:"emergency,omitempty"`
	// AlreadyPending answers an OpRequest that found the caller's request
	// still waiting: no second one was made.
	AlreadyPending bool `json:"already_pending,omitempty"`
	// Helper carries what the JIT helper needs; hoist status leaves it out.
	Helper *HelperInfo `json:"helper,omitempty"`
}

// HelperInfo is what the JIT helper needs to ask and to remind. Durations
// are in Go's syntax.
type HelperInfo struct {
	// JIT says whether JIT mode is available on this machine.
	JIT             bool     `json:"jit"`
	ReasonRequired  bool     `json:"reason_required,omitempty"`
	Durations       []string `json:"durations,omitempty"`
	DefaultDuration string   `json:"default_duration,omitempty"`
	MaxDuration     string   `json:"max_duration,omitempty"`
	// Reminders are how long before the end the user is reminded.
	Reminders []string `json:"reminders"`
	// ReminderEvery is the period of the reminders before those (every
	// so much time left); empty: none.
	ReminderEvery string `json:"reminder_every,omitempty"`
}

// Started says the program runs.
type Started struct {
	Pid       int    `json:"pid"`
	SessionID string `json:"session_id,omitempty"`
	// Recording says hoistd records the program's terminal: it gave the
	// program a terminal of its own and relays it to the one the client
	// passed, so the client sends OpResize when its terminal's size
	// changes. (A hoistd that does not record never sets it, and never
	// gets a frame it does not know.)
	Recording bool `json:"recording,omitempty"`
}

// Notice is a message for the person at the terminal while the program
// runs: the session is ending and the program is about to be closed.
type Notice struct {
	Message string `json:"message"`
}

// Exited carries the program's exit status (128+n for signal n).
type Exited struct {
	Status int `json:"status"`
}

// Ended answers OpExit.
type Ended struct {
	SessionID  string `json:"session_id"`
	Terminated int    `json:"terminated"`
}

// WriteFrame writes v as one frame. A frame over MaxFrame is not written:
// the error wraps ErrInvalid.
func WriteFrame(w io.Writer, v any) error {
	var enc bytes.Buffer
	e := json.NewEncoder(&enc)
	// "<", ">" and "&" are common in command lines and need no escaping
	// outside HTML; as \u003c they would take six bytes of the frame.
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		return err
	}
	data := bytes.TrimSuffix(enc.Bytes(), []byte("\n"))
	if len(data) > MaxFrame {
		return fmt.Errorf("%w: it takes %d bytes to send, over the %d-byte limit of a frame", ErrInvalid, len(data), MaxFrame)
	}
	buf := make([]byte, 4+len(data))
	binary.BigEndian.PutUint32(buf, uint32(len(data)))
	copy(buf[4:], data)
	_, err := w.Write(buf)
	return err
}

// ErrFrame is wrapped by every protocol violation ReadFrame finds.
var ErrFrame = errors.New("protocol violation")

// ReadFrame reads one frame into v, refusing oversized frames, unknown fields
// and trailing data. hdr holds header bytes already read (fewer than 4 is
// fine). It reads no more than the frame from r. Errors other than io.EOF
// (nothing at all before the end) wrap ErrFrame.
func ReadFrame(r io.Reader, hdr []byte, v any) error {
	head := make([]byte, 4)
	n := copy(head, hdr)
	if _, err := io.ReadFull(r, head[n:]); err != nil {
		if n == 0 && errors.Is(err, io.EOF) {
			return io.EOF
		}
		return fmt.Errorf("%w: short header: %v", ErrFrame, err)
	}
	size := binary.BigEndian.Uint32(head)
	if size == 0 || size > MaxFrame {
		return fmt.Errorf("%w: frame size %d out of range", ErrFrame, size)
	}
	data := make([]byte, size)
	if _, err := io.ReadFull(r, data); err != nil {
		return fmt.Errorf("%w: short frame: %v", ErrFrame, err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrFrame, err)
	}
	if len(bytes.TrimLeft(data[dec.InputOffset():], " \t\r\n")) > 0 {
		return fmt.Errorf("%w: data after the JSON value", ErrFrame)
	}
	return nil
}
